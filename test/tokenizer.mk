# Tests for tokenizer.c (issue #3): C unit tests that call its functions
# directly, and a shell script that drives the ./tokenizer command line.
TESTS += "./build/test_tokenizer" "bash test/test_tokenizer.sh"
TEST_BINS += build/test_tokenizer

build/test_tokenizer: test/test_tokenizer.c tokenizer.c $(STB_DS) | build
	$(CC) $(CFLAGS) -I$(STB_DIR) -o $@ test/test_tokenizer.c $(LDLIBS)
