#!/usr/bin/env bash
# test_gpu.sh — the GPU backend against the CPU (test/test_gpu.cu), in both
# builds: bf16 (the default) and FP32 (the parity build).
# Without an NVIDIA GPU: one "SKIP ... (skipped: no GPU)" line per check and
# exit 0, at once, building nothing (CI and `make test-asan` have no GPU).
# With one: builds build/test_gpu and build/test_gpu_fp32 (GPU_ARCH=90 by
# default here: H100/H200; GPU_ARCH=80 for an A100) and runs them.
# STATUS: the GPU branch of this script has never run (no GPU yet).
cd "$(dirname "$0")/.." || exit 1
BUILD=${BUILD:-build}
checks="kernels model_moe_gqa_window model_dense_tied train20_losses_within_1pct resume_gpu_bit_identical resume_cpu_checkpoint_on_gpu"
if ! { command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L 2>/dev/null | grep -q '^GPU'; }; then
  for c in $checks; do echo "SKIP gpu_$c (skipped: no GPU)"; echo "SKIP gpu_fp32_$c (skipped: no GPU)"; done
  exit 0
fi
arch=${GPU_ARCH:-$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -1 | tr -d '.')}
arch=${arch:-90}
mkdir -p "$BUILD"
rc=0
for prog in test_gpu test_gpu_fp32; do
  if ! make -s BUILD="$BUILD" GPU_ARCH="$arch" "$BUILD/$prog" >"$BUILD/$prog.build.log" 2>&1; then
    echo "FAIL ${prog}_builds ($(tail -5 "$BUILD/$prog.build.log" | tr '\n' ' '))"; rc=1; continue
  fi
  TMPDIR=$(mktemp -d) "$BUILD/$prog" || rc=1
done
exit $rc
