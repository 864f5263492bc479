# Long context (issue 12): the tiled attention's properties (threads,
# causality, memory linear in T) and activation checkpointing (float).
TEST_BINS += $(BUILD)/test_flash
TESTS += $(BUILD)/test_flash

$(BUILD)/test_flash: test/test_flash.c test/check.h ultrathink.h | $(BUILD)
	$(CC) $(CFLAGS) -o $@ test/test_flash.c $(LDLIBS)
