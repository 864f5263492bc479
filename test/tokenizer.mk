# Tests for tokenizer.c (issue #3): C unit tests that call its functions
# directly ($(BUILD)/test_tokenizer), and a shell script that drives the
# $(BIN)/tokenizer command line (BIN is exported: build-asan in make test-asan).
TESTS += "$(BUILD)/test_tokenizer" "bash test/test_tokenizer.sh"
TEST_BINS += $(BUILD)/test_tokenizer

$(BUILD)/test_tokenizer: test/test_tokenizer.c tokenizer.c ultrathink.h $(STB_DS) | $(BUILD)
	$(CC) $(CFLAGS) -I$(STB_DIR) -o $@ test/test_tokenizer.c $(LDLIBS)
