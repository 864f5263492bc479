# Unit tests of ultrathink.h: gradient checks (double) and properties (float).
TEST_BINS += $(BUILD)/test_grad $(BUILD)/test_props
TESTS += $(BUILD)/test_grad $(BUILD)/test_props

$(BUILD)/test_grad: test/test_grad.c ultrathink.h | $(BUILD)
	$(CC) $(CFLAGS) -DUT_DOUBLE -o $@ test/test_grad.c $(LDLIBS)

$(BUILD)/test_props: test/test_props.c test/check.h ultrathink.h | $(BUILD)
	$(CC) $(CFLAGS) -o $@ test/test_props.c $(LDLIBS)

# One-line bugs the PyTorch comparison used to be the only catch for (float).
TEST_BINS += $(BUILD)/test_mutants
TESTS += $(BUILD)/test_mutants

$(BUILD)/test_mutants: test/test_mutants.c test/check.h ultrathink.h | $(BUILD)
	$(CC) $(CFLAGS) -o $@ test/test_mutants.c $(LDLIBS)
