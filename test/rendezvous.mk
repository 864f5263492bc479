# How the GPU trainer's ranks meet without MPI (rendezvous.h): launch
# variables (torchrun's RANK/WORLD_SIZE/..., Slurm's SLURM_PROCID/...), the
# TCP and shared-file rendezvous, and their errors, with forked processes on
# 127.0.0.1. Plain C: runs everywhere, no GPU, no MPI; a few seconds.
TEST_BINS += $(BUILD)/test_rendezvous
TESTS += $(BUILD)/test_rendezvous
$(BUILD)/test_rendezvous: test/test_rendezvous.c rendezvous.h | $(BUILD)
	$(CC) $(CFLAGS) -o $@ test/test_rendezvous.c $(LDLIBS)

# The same with a real torchrun (PyTorch's launcher, no GPU): 2 ranks of
# test/rendezvous_probe.c under both of its rendezvous backends (--standalone
# and static), checking the port rule. SKIP lines without torchrun; ~20 s.
TEST_BINS += $(BUILD)/rendezvous_probe
TESTS += "PROBE=$(BUILD)/rendezvous_probe bash test/test_torchrun.sh"
$(BUILD)/rendezvous_probe: test/rendezvous_probe.c rendezvous.h | $(BUILD)
	$(CC) $(CFLAGS) -o $@ test/rendezvous_probe.c $(LDLIBS)
