# The GPU backend's tests (test/test_gpu.cu; make test-gpu). `make test` runs
# test/test_gpu.sh, which prints SKIP lines at once on a machine without an
# NVIDIA GPU (CI, the sanitizer build) and builds nothing there; with a GPU it
# builds and runs the bf16 and the FP32 test programs.
TESTS += "bash test/test_gpu.sh"

# The header's implementation (the CPU oracle) as a C object the CUDA
# programs link with.
$(BUILD)/ultrathink_impl.o: ultrathink.h | $(BUILD)
	$(CC) $(GPU_HOST_CFLAGS) -x c -DULTRATHINK_IMPLEMENTATION -c -o $@ ultrathink.h

$(BUILD)/test_gpu: test/test_gpu.cu train_gpu.cu train_gpu.h train_gpu_host.h $(BUILD)/ultrathink_impl.o
	$(NVCC) $(NVCCFLAGS) -o $@ test/test_gpu.cu $(BUILD)/ultrathink_impl.o $(GPU_LIBS)
$(BUILD)/test_gpu_fp32: test/test_gpu.cu train_gpu.cu train_gpu.h train_gpu_host.h $(BUILD)/ultrathink_impl.o
	$(NVCC) $(NVCCFLAGS) -DUT_GPU_FP32 -o $@ test/test_gpu.cu $(BUILD)/ultrathink_impl.o $(GPU_LIBS)

test-gpu:
	@bash test/run.sh "bash test/test_gpu.sh"

# The host-side bookkeeping of the GPU backend (train_gpu_host.h), plain C,
# checked against ultrathink.h on the CPU: runs everywhere.
TEST_BINS += $(BUILD)/test_gpu_host
TESTS += $(BUILD)/test_gpu_host
$(BUILD)/test_gpu_host: test/test_gpu_host.c train_gpu_host.h ultrathink.h | $(BUILD)
	$(CC) $(CFLAGS) -o $@ test/test_gpu_host.c $(LDLIBS)

# comm.h's NCCL backend, every collective checked (test/test_comm_nccl.c):
# plain C linked with NCCL and the CUDA runtime. test/test_gpu.sh builds and
# runs it on a machine with a GPU (one rank; two with two GPUs); it is not
# in TEST_BINS, as a machine without CUDA cannot build it.
$(BUILD)/test_comm_nccl: test/test_comm_nccl.c comm.h rendezvous.h | $(BUILD)
	$(CC) $(GPU_HOST_CFLAGS) -I$(CUDA_HOME)/include -o $@ test/test_comm_nccl.c -L$(CUDA_HOME)/lib64 -lnccl -lcudart -lm
