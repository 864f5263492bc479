# How the GPU trainer's ranks meet without MPI (rendezvous.h): launch
# variables (torchrun's RANK/WORLD_SIZE/..., Slurm's SLURM_PROCID/...), the
# TCP and shared-file rendezvous, and their errors, with forked processes on
# 127.0.0.1. Plain C: runs everywhere, no GPU, no MPI; a few seconds.
TEST_BINS += $(BUILD)/test_rendezvous
TESTS += $(BUILD)/test_rendezvous
$(BUILD)/test_rendezvous: test/test_rendezvous.c rendezvous.h | $(BUILD)
	$(CC) $(CFLAGS) -o $@ test/test_rendezvous.c $(LDLIBS)
