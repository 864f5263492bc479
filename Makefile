# ultrathink — build, run, test.
#   make            build the CPU trainer (train) and the tokenizer (tokenizer)
#   make run        get data, train a tokenizer, train a model for a few minutes, sample
#   make test       build and run every test; ends with "N passed, N failed"
#   make bench      speed figures (ms/step, tokens/s, GFLOP/s) for the benchmark configs
#   make lint       cppcheck + gcc/clang -Wall -Wextra -Wshadow of every program; fails on any finding
#   make train_gpu  the CUDA trainer ./train_gpu (nvcc; GPU_ARCH="80 90", FP32=1, NCCL=1 (default), MPI=1);
#                   compiles without a GPU
#   make test-gpu, make bench-gpu, make gpu-check   need an NVIDIA GPU (README, "The GPU build")
#   make train_mpi  the trainer for several processes (Open MPI's mpicc; README:
#                   "Training on several processes"); plain `make` needs no MPI

# BIN is where the programs go: the repo root normally, build-asan/ for the
# sanitizer build. Tests find them through the exported BIN variable.
BIN     ?= .
export BIN
BUILD   ?= build

CC      ?= cc
# -fno-math-errno: sqrtf/expf need not set errno, so the compiler may inline
# sqrt as one instruction (we never read errno after math calls).
OPT     ?= -O3 -march=native -fno-math-errno
CFLAGS  ?= $(OPT) -std=c11 -Wall -Wextra -Wno-unused-parameter -Wno-unused-function
LDLIBS  ?= -lm

# OpenMP is optional: use it when the compiler accepts -fopenmp (Apple clang does
# not; `make OPENMP=` builds single-threaded on purpose).
OPENMP  ?= $(shell printf 'int main(void){return 0;}' | $(CC) -fopenmp -x c - -o /dev/null 2>/dev/null && echo -fopenmp)
CFLAGS  += $(if $(OPENMP),$(OPENMP),-Wno-unknown-pragmas)

# stb_ds.h (hash maps, dynamic arrays) comes from Debian's libstb-dev.
STB_DIR ?= /usr/include/stb
STB_DS  := $(STB_DIR)/stb_ds.h

.PHONY: all run test test-bins test-asan test-asan-bins bench lint clean
all: $(BIN)/train $(BIN)/tokenizer

$(STB_DS):
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "stb_ds.h is missing: installing libstb-dev"; \
	  (apt-get install -y -qq libstb-dev || (apt-get update -qq && apt-get install -y -qq libstb-dev)) >/dev/null; \
	else \
	  echo "error: $(STB_DS) not found. Install it with:  sudo apt-get install libstb-dev"; \
	  echo "       (or point STB_DIR at a folder holding stb_ds.h: make STB_DIR=/path/to/stb)"; exit 1; \
	fi

$(BIN)/train: train.c ultrathink.h dashboard.h export.h comm.h
	@mkdir -p $(BIN)
	$(CC) $(CFLAGS) -o $@ train.c $(LDLIBS)

# ./train_mpi: the same train.c with the MPI backend of comm.h (-DUT_MPI),
# compiled by Open MPI's wrapper (Debian: apt-get install openmpi-bin libopenmpi-dev).
MPICC ?= mpicc
ifneq ($(BIN),.)
train_mpi: $(BIN)/train_mpi
endif
$(BIN)/train_mpi: train.c ultrathink.h dashboard.h export.h comm.h
	@mkdir -p $(BIN)
	@command -v $(MPICC) >/dev/null || { echo "error: $(MPICC) not found. Install Open MPI: sudo apt-get install openmpi-bin libopenmpi-dev"; exit 1; }
	OMPI_CC=$(CC) $(MPICC) $(CFLAGS) -DUT_MPI -o $@ train.c $(LDLIBS)

$(BIN)/tokenizer: tokenizer.c ultrathink.h $(STB_DS)
	@mkdir -p $(BIN)
	$(CC) $(CFLAGS) -I$(STB_DIR) -o $@ tokenizer.c $(LDLIBS)

# ---- make run ----------------------------------------------------------------
# The whole pipeline on one text, each command printed before it runs:
#   1. data/get_text.sh  picks the text: TEXT=FILE, else Tiny Shakespeare
#                        (downloaded once into data/), else, offline, the
#                        Debian `fortunes` corpus
#   2. tokenizer train   learns a BPE vocabulary of VOCAB tokens on it
#   3. tokenizer encode  turns it into data/NAME.train.bin + data/NAME.val.bin
#                        (the last 10% of the text is held out for validation)
#   4. train             trains the default model (./train --help), with a
#                        progress line, evaluations and the expert load;
#                        the run goes to RUN_DIR/NAME (replaced on each make run)
#   5. train sample      prints a few samples from the checkpoint (with the
#                        tokenizer the run recorded in its run.json)
# --keep-best: also keep data/NAME's best model (lowest validation loss) as
# RUN_DIR/NAME/best.ckpt; on a small text the last model may be overfitted.
# Names with spaces work: TEXT="my notes.txt".
# Examples:  make run TEXT=my.txt    make run VOCAB=512 RUN_ARGS="--steps 2000"
TEXT     ?=
VOCAB    ?= 1024
RUN_DIR  ?= out
RUN_ARGS ?=
run: all
	@set -e; x() { echo "+ $$*"; "$$@"; }; \
	text=$$(bash data/get_text.sh "$(TEXT)"); \
	name=$$(basename "$$text"); name="$${name%.*}"; d="data/$$name"; out="$(RUN_DIR)/$$name"; \
	x $(BIN)/tokenizer train --input "$$text" --vocab-size $(VOCAB) --output "$$d.tok"; \
	x $(BIN)/tokenizer encode --model "$$d.tok" --input "$$text" --output "$$d.train.bin" \
	    --val-fraction 0.1 --val-output "$$d.val.bin"; \
	rm -rf "$$out"; \
	x $(BIN)/train --train "$$d.train.bin" --val "$$d.val.bin" --tokenizer "$$d.tok" --out "$$out" --keep-best $(RUN_ARGS); \
	x $(BIN)/train sample --resume "$$out" --samples 3 --tokens 200

# Test programs go to $(BUILD); `make test-asan` rebuilds them with
# AddressSanitizer + UndefinedBehaviorSanitizer in build-asan and runs them.
$(BUILD):
	mkdir -p $(BUILD)

# Each test/*.mk adds its programs to TESTS (commands run by test/run.sh) and
# its build rules; `make test` builds them all, then runs them.
TESTS :=
TEST_BINS :=
include $(wildcard test/*.mk)
include lessons/lessons.mk

# test-bins only builds them: `make -j2 test-bins` builds in parallel, then
# `make test` runs the tests one after another (what .ci/run does)
test-bins: all $(TEST_BINS)
test: test-bins
	@bash test/run.sh $(TESTS)

# UT_SANITIZED=1 tells the tests they run on the sanitizer build: they leave out
# the parts where other programs judge the files we wrote (Chromium drawing the
# dashboard, llama.cpp and PyTorch reading the exports, PyTorch's reference
# model): those files are the same in both builds, and `make test` runs those
# checks. Each test prints a "note:" line saying what it left out.
SAN := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
ASAN_MAKE = $(MAKE) BUILD=build-asan BIN=build-asan OPT="-O1 -g $(SAN)" LDLIBS="-lm $(SAN)"
test-asan-bins:
	mkdir -p build-asan
	$(ASAN_MAKE) test-bins
test-asan: test-asan-bins
	UT_SANITIZED=1 $(ASAN_MAKE) test

# make lint: cppcheck and warning builds (gcc and clang, with and without
# OpenMP) of every program and test program, to /dev/null; the header and
# tokenizer.c are checked through the files that include them. Prints each
# finding once and fails if there is any; a missing tool prints "skipped: ...".
# Suppressions, each with its reason: test/cppcheck.supp. See test/lint.sh.
LINT_SRC := train.c tokenizer.c $(wildcard bench/*.c) $(wildcard test/*.c)
lint: $(STB_DS)
	@STB_DIR=$(STB_DIR) bash test/lint.sh $(LINT_SRC)

# make bench: speed figures (bench/bench.mk)
-include bench/bench.mk

clean:
	rm -rf build build-asan train tokenizer train_gpu train_mpi gpu-check

# ---- make train_gpu: the CUDA build (train_gpu.cu, README "The GPU build") ----
# train.c compiled with -DUT_GPU (its compute calls go to the GPU through
# train_gpu.h), linked with train_gpu.cu, cuBLASLt and the CUDA runtime.
#   GPU_ARCH="80 90"  the GPUs to compile for (A100 = 80, H100/H200 = 90)
#   FP32=1            every tensor in fp32 (the parity build); default bf16
#   NCCL=1            several GPUs and machines (comm.h's NCCL backend; launched
#                     by torchrun-style variables or srun: README, "Training on
#                     several processes"). The default where nccl.h is found
#                     (CUDA_HOME/include or /usr/include);
#                     NCCL= builds the single-GPU trainer without it.
#   MPI=1             also launched by mpirun (the NCCL id goes over MPI; needs
#                     NCCL and Open MPI's mpicc)
# nvcc comes from PATH, else /usr/local/cuda/bin/nvcc. Compiling needs no GPU.
NVCC      ?= $(shell command -v nvcc 2>/dev/null || echo /usr/local/cuda/bin/nvcc)
CUDA_HOME ?= $(patsubst %/bin/nvcc,%,$(NVCC))
NCCL      ?= $(if $(wildcard $(CUDA_HOME)/include/nccl.h /usr/include/nccl.h),1,)
MPI       ?=
GPU_ARCH  ?= 80 90
FP32      ?=
GPU_DEFS  := $(if $(FP32),-DUT_GPU_FP32)
NVCCFLAGS ?= -O3 -std=c++17 -lineinfo $(foreach a,$(GPU_ARCH),-gencode arch=compute_$(a),code=sm_$(a)) \
             -Xcompiler -Wall,-Wextra,-Wno-unused-parameter,-Wno-unused-function
GPU_LIBS  := -L$(CUDA_HOME)/lib64 -lcublasLt -lcudart -lm
GPU_HOST_CFLAGS := -O3 -std=c11 -Wall -Wextra -Wno-unused-parameter -Wno-unused-function -Wno-unknown-pragmas

.PHONY: test-gpu bench-gpu gpu-check
ifneq ($(BIN),.)
.PHONY: train_gpu
train_gpu: $(BIN)/train_gpu
endif
# The host half (train.c) with the communication backend the flags ask for:
# one object per combination; the stamp file relinks ./train_gpu when the
# combination changes (it is rewritten only then).
GPU_VARIANT   := $(FP32)$(if $(NCCL),-nccl)$(if $(MPI),-mpi)
GPU_HOST_CC   := $(if $(MPI),OMPI_CC=$(CC) $(MPICC),$(CC))
GPU_COMM_DEFS := $(if $(NCCL),-DUT_NCCL -I$(CUDA_HOME)/include) $(if $(MPI),-DUT_MPI)
GPU_COMM_LIBS := $(if $(NCCL),-lnccl) $(if $(MPI),$(shell $(MPICC) --showme:link 2>/dev/null))
$(BUILD)/train_gpu.variant: GPU_ALWAYS | $(BUILD)
	@echo '$(GPU_VARIANT)' | cmp -s - $@ || echo '$(GPU_VARIANT)' > $@
GPU_ALWAYS:
$(BUILD)/train_gpu_host$(GPU_VARIANT).o: train.c ultrathink.h dashboard.h export.h train_gpu.h comm.h rendezvous.h | $(BUILD)
	@if [ -n "$(MPI)" ] && [ -z "$(NCCL)" ]; then echo "error: MPI=1 needs NCCL (nccl.h in $(CUDA_HOME)/include, or NCCL=1)"; exit 1; fi
	@if [ -n "$(MPI)" ] && ! command -v $(MPICC) >/dev/null; then echo "error: $(MPICC) not found. Install Open MPI: sudo apt-get install openmpi-bin libopenmpi-dev"; exit 1; fi
	$(GPU_HOST_CC) $(GPU_HOST_CFLAGS) -DUT_GPU $(GPU_COMM_DEFS) -c -o $@ train.c
$(BUILD)/train_gpu_dev$(FP32).o: train_gpu.cu train_gpu.h train_gpu_host.h ultrathink.h | $(BUILD)
	$(NVCC) $(NVCCFLAGS) $(GPU_DEFS) -c -o $@ train_gpu.cu
$(BIN)/train_gpu: $(BUILD)/train_gpu_host$(GPU_VARIANT).o $(BUILD)/train_gpu_dev$(FP32).o $(BUILD)/train_gpu.variant
	@mkdir -p $(BIN)
	$(NVCC) $(NVCCFLAGS) -o $@ $(filter %.o,$^) $(GPU_COMM_LIBS) $(GPU_LIBS)

# make bench-gpu: G1, G2 and attention alone on the GPU (bench/bench_gpu.cu)
BENCH_GPU_ARGS ?=
$(BUILD)/bench_gpu: bench/bench_gpu.cu train_gpu.cu train_gpu.h train_gpu_host.h $(BUILD)/ultrathink_impl.o
	$(NVCC) $(NVCCFLAGS) -o $@ bench/bench_gpu.cu $(BUILD)/ultrathink_impl.o $(GPU_LIBS)
bench-gpu: $(BUILD)/bench_gpu
	$(BUILD)/bench_gpu $(BENCH_GPU_ARGS)

# make gpu-check: the one command a session with a GPU runs: builds, runs
# the GPU parity tests, test_gpu.sh's NCCL checks, the command line CPU vs
# GPU, and bench-gpu; logs to $OUT or
# gpu-check/ (tools/gpu_check.sh). About 5 minutes on an H100/H200.
gpu-check:
	@bash tools/gpu_check.sh
