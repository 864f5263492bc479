# Unit tests of ultrathink.h: gradient checks (double) and properties (float).
TEST_BINS += $(BUILD)/test_grad $(BUILD)/test_props
TESTS += $(BUILD)/test_grad $(BUILD)/test_props

$(BUILD)/test_grad: test/test_grad.c ultrathink.h | $(BUILD)
	$(CC) $(CFLAGS) -DUT_DOUBLE -o $@ test/test_grad.c $(LDLIBS)

$(BUILD)/test_props: test/test_props.c ultrathink.h | $(BUILD)
	$(CC) $(CFLAGS) -o $@ test/test_props.c $(LDLIBS)
