# The PyTorch cross-check (issue #2): test/torch_ref.py writes a reference state
# for a dense and an MoE config, build/test_torch compares ultrathink.h against
# it. test/torch_check.sh prints SKIP when /usr/bin/python3 has no torch.
TEST_BINS += $(BUILD)/test_torch
TESTS += "bash test/torch_check.sh $(BUILD)/test_torch"

$(BUILD)/test_torch: test/test_torch.c ultrathink.h | $(BUILD)
	$(CC) $(CFLAGS) -o $@ test/test_torch.c $(LDLIBS)
