#!/usr/bin/env bash
# test_gpu.sh — the GPU backend against the CPU (test/test_gpu.cu), in both
# builds: bf16 (the default) and FP32 (the parity build).
# Without an NVIDIA GPU: one "SKIP ... (skipped: no GPU)" line per check and
# exit 0, at once, building nothing (CI and `make test-asan` have no GPU).
# With one: builds build/test_gpu and build/test_gpu_fp32 (GPU_ARCH=90 by
# default here: H100/H200; GPU_ARCH=80 for an A100) and runs them; then the
# NCCL path of ./train_gpu (comm.h) at world size 1, and with two GPUs on two
# ranks (against --grad-accum 2, and a rank killed with kill -9).
#   bash test/test_gpu.sh           everything (make test, make test-gpu)
#   bash test/test_gpu.sh --nccl    the NCCL checks only (tools/gpu_check.sh, which
#                                   runs the parity binaries itself)
# STATUS: the GPU branch of this script has never run (no GPU yet).
cd "$(dirname "$0")/.." || exit 1
BUILD=${BUILD:-build}
only_nccl=0; [ "${1:-}" = --nccl ] && only_nccl=1
checks="kernels model_moe_gqa_window model_dense_tied train20_losses_within_1pct resume_gpu_bit_identical resume_cpu_checkpoint_on_gpu"
# the NCCL path of comm.h (data parallelism; README "Training on several processes")
nccl_checks="nccl_comm_world1 nccl_world1_same_weights nccl_world1_file_rendezvous nccl_world1_overlap_off_same_weights gpu_zero1_alone_same_weights nccl_world1_zero1_same_weights nccl_comm_world2 nccl_2ranks_vs_grad_accum_2 nccl_2ranks_overlap_off_same_weights nccl_2ranks_zero1_same_weights nccl_kill_rank_ends_job"
if ! { command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L 2>/dev/null | grep -q '^GPU'; }; then
  [ $only_nccl = 1 ] || for c in $checks; do echo "SKIP gpu_$c (skipped: no GPU)"; echo "SKIP gpu_fp32_$c (skipped: no GPU)"; done
  for c in $nccl_checks; do echo "SKIP $c (skipped: no GPU)"; done
  exit 0
fi
arch=${GPU_ARCH:-$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -1 | tr -d '.')}
arch=${arch:-90}
mkdir -p "$BUILD"
rc=0
for prog in test_gpu test_gpu_fp32; do
  [ $only_nccl = 1 ] && break
  if ! make -s BUILD="$BUILD" GPU_ARCH="$arch" "$BUILD/$prog" >"$BUILD/$prog.build.log" 2>&1; then
    echo "FAIL ${prog}_builds ($(tail -5 "$BUILD/$prog.build.log" | tr '\n' ' '))"; rc=1; continue
  fi
  TMPDIR=$(mktemp -d) "$BUILD/$prog" || rc=1
done

# ---- the NCCL path (comm.h), STATUS: never run (no GPU yet) -------------------
# World size 1 through the whole NCCL path (a launcher's variables, the
# rendezvous, a communicator of one, every collective) must change nothing:
# the same checkpoint, byte for byte, as the same binary started alone.
# With two GPUs: two ranks against --grad-accum 2, and kill -9 of a rank.
ngpu=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU')
port=$(( 20000 + $$ % 20000 ))
launch() { env RANK="$1" WORLD_SIZE="$2" LOCAL_RANK="$1" MASTER_ADDR=127.0.0.1 MASTER_PORT="$port" "${@:3}"; }
TG=${BIN:-.}/train_gpu   # where make puts it (BIN: the Makefile exports it; build-asan/ in make test-asan)
nccl_h=$(ls "${CUDA_HOME:-/usr/local/cuda}/include/nccl.h" /usr/include/nccl.h 2>/dev/null | head -1)
if [ -z "$nccl_h" ]; then
  for c in $nccl_checks; do echo "SKIP $c (skipped: no nccl.h in ${CUDA_HOME:-/usr/local/cuda}/include or /usr/include)"; done
  exit $rc
fi
if ! make -s BUILD="$BUILD" GPU_ARCH="$arch" train_gpu "$BUILD/test_gpu" "$BUILD/test_comm_nccl" >"$BUILD/nccl.build.log" 2>&1; then
  echo "FAIL nccl_builds ($(tail -5 "$BUILD/nccl.build.log" | tr '\n' ' '))"; exit 1
fi
# ./train_gpu without NCCL (no nccl.h where the Makefile looks: $CUDA_HOME/include)
# has no NCCL path to check: say so once per check rather than fail each one
if ! grep -q nccl "$BUILD/train_gpu.variant" 2>/dev/null; then
  for c in $nccl_checks; do echo "SKIP $c (skipped: ./train_gpu was built without NCCL: $(cat "$BUILD/train_gpu.variant" 2>/dev/null))"; done
  exit $rc
fi
D=$(mktemp -d)
launch 0 1 timeout 60 "$BUILD/test_comm_nccl" > "$D/c.log" 2>&1; x=$?
sed 's/nccl_w1_/nccl_comm_world1_/' "$D/c.log"
[ $x -eq 0 ] || { echo "FAIL nccl_comm_world1 (exit $x)"; rc=1; }
"$BUILD/test_gpu" --write-tokens "$D/tok.bin"
ARGS=(--train "$D/tok.bin" --layers 2 --dim 64 --heads 4 --kv-heads 2 --ffn 96 --experts 4 --top-k 2
      --seq 64 --batch 8 --steps 20 --lr 3e-3 --warmup 5 --eval-every 0 --save-every 0)
losses() { grep -o '"train_loss":[^,}]*' "$1" | cut -d: -f2; }
if timeout 120 "$TG" "${ARGS[@]}" --out "$D/alone" >"$D/alone.log" 2>&1 &&
   launch 0 1 timeout 120 "$TG" "${ARGS[@]}" --out "$D/w1" >"$D/w1.log" 2>&1 &&
   grep -q "nccl" "$D/w1.log" && cmp -s "$D/alone/ckpt.bin" "$D/w1/ckpt.bin"; then echo "PASS nccl_world1_same_weights"
else echo "FAIL nccl_world1_same_weights ($(tail -2 "$D/w1.log" | tr '\n' ' '))"; rc=1; fi
if UT_RENDEZVOUS="$D/id" RANK=0 WORLD_SIZE=1 timeout 120 "$TG" "${ARGS[@]}" --out "$D/file" >"$D/file.log" 2>&1 &&
   cmp -s "$D/alone/ckpt.bin" "$D/file/ckpt.bin" && [ ! -e "$D/id" ]; then echo "PASS nccl_world1_file_rendezvous"
else echo "FAIL nccl_world1_file_rendezvous ($(tail -2 "$D/file.log" | tr '\n' ' '))"; rc=1; fi
# the gradient's all-reduce started layer by layer during the backward (the
# default above) or once after it (UT_NCCL_OVERLAP=0): the same sums
if UT_NCCL_OVERLAP=0 launch 0 1 timeout 120 "$TG" "${ARGS[@]}" --out "$D/ovoff" >"$D/ovoff.log" 2>&1 &&
   grep -q "all-reduce after the backward" "$D/ovoff.log" && grep -q "overlapped with the backward" "$D/w1.log" &&
   cmp -s "$D/alone/ckpt.bin" "$D/ovoff/ckpt.bin"; then echo "PASS nccl_world1_overlap_off_same_weights"
else echo "FAIL nccl_world1_overlap_off_same_weights ($(tail -2 "$D/ovoff.log" | tr '\n' ' '))"; rc=1; fi
# ZeRO-1 on the GPU (train.c's zero_update with the ut_zero_*_gpu calls): the
# chunked norm and the same AdamW launches make it the plain update exactly,
# so the checkpoint (moments gathered from the shards) is byte for byte the
# plain run's: alone (no NCCL) and through NCCL with one rank
zero_same() {   # name, command...: the run's checkpoint must equal $D/alone's
  local name=$1; shift
  if "$@" >"$D/$name.log" 2>&1 && grep -q "zero-1:" "$D/$name.log" && cmp -s "$D/alone/ckpt.bin" "$D/$name/ckpt.bin"; then
    echo "PASS $name ($(grep -o 'zero-1: AdamW state [^(]*' "$D/$name.log"))"
  else echo "FAIL $name ($(tail -2 "$D/$name.log" | tr '\n' ' '))"; rc=1; fi
}
zero_same gpu_zero1_alone_same_weights timeout 120 "$TG" "${ARGS[@]}" --zero 1 --out "$D/gpu_zero1_alone_same_weights"
zero_same nccl_world1_zero1_same_weights launch 0 1 timeout 120 "$TG" "${ARGS[@]}" --zero 1 \
  --out "$D/nccl_world1_zero1_same_weights"
if [ "$ngpu" -lt 2 ]; then
  for c in nccl_comm_world2 nccl_2ranks_vs_grad_accum_2 nccl_2ranks_overlap_off_same_weights nccl_2ranks_zero1_same_weights nccl_kill_rank_ends_job; do echo "SKIP $c (skipped: $ngpu GPU, needs 2)"; done
else
  port=$((port + 1))
  launch 1 2 timeout 60 "$BUILD/test_comm_nccl" > "$D/c1.log" 2>&1 &
  launch 0 2 timeout 60 "$BUILD/test_comm_nccl" > "$D/c.log" 2>&1; x=$?
  sed 's/nccl_w2_/nccl_comm_world2_/' "$D/c.log"
  [ $x -eq 0 ] || { echo "FAIL nccl_comm_world2 (rank 0 exit $x)"; rc=1; }
  wait $! || { echo "FAIL nccl_comm_world2 (rank 1: $(tail -2 "$D/c1.log" | tr '\n' ' '))"; rc=1; }
  # two ranks, one micro-batch each, against one process with --grad-accum 2:
  # the same batches; the GPU sums the two micro-batches in another order
  # (one buffer vs two ranks), so the losses agree to rounding, not bits
  port=$((port + 1))
  timeout 120 "$TG" "${ARGS[@]}" --grad-accum 2 --out "$D/acc2" >"$D/acc2.log" 2>&1
  launch 1 2 timeout 120 "$TG" "${ARGS[@]}" --out "$D/r2" >"$D/r2_1.log" 2>&1 &
  launch 0 2 timeout 120 "$TG" "${ARGS[@]}" --out "$D/r2" >"$D/r2_0.log" 2>&1; r0=$?
  wait $!; r1=$?
  d=$(paste <(losses "$D/acc2/metrics.jsonl") <(losses "$D/r2/metrics.jsonl") |
      awk 'NF == 2 {x = ($1 - $2) / $2; if (x < 0) x = -x; if (x > m) m = x; n++} END {if (n < 20) print "missing"; else print m}')
  if [ $r0 -eq 0 ] && [ $r1 -eq 0 ] && [ "$d" != missing ] && awk -v d="$d" 'BEGIN {exit !(d < 1e-3)}'; then
    echo "PASS nccl_2ranks_vs_grad_accum_2 (max rel loss diff $d)"
  else echo "FAIL nccl_2ranks_vs_grad_accum_2 (exit $r0 $r1, diff $d)"; rc=1; fi
  # the same two ranks with the all-reduce after the backward, not overlapped:
  # a sum of two is one addition however the buffer is cut, so byte for byte
  port=$((port + 1))
  UT_NCCL_OVERLAP=0 launch 1 2 timeout 120 "$TG" "${ARGS[@]}" --out "$D/o2" >"$D/o2_1.log" 2>&1 &
  UT_NCCL_OVERLAP=0 launch 0 2 timeout 120 "$TG" "${ARGS[@]}" --out "$D/o2" >"$D/o2_0.log" 2>&1; r0=$?
  wait $!; r1=$?
  if [ $r0 -eq 0 ] && [ $r1 -eq 0 ] && grep -q "all-reduce after the backward" "$D/o2_0.log" &&
     grep -q "overlapped with the backward" "$D/r2_0.log" && cmp -s "$D/r2/ckpt.bin" "$D/o2/ckpt.bin"; then echo "PASS nccl_2ranks_overlap_off_same_weights"
  else echo "FAIL nccl_2ranks_overlap_off_same_weights (exit $r0 $r1: $(tail -2 "$D/o2_0.log" | tr '\n' ' '))"; rc=1; fi
  # the same two ranks with --zero 1: each updates half the weights, then the
  # halves are gathered; with 2 ranks a sum is one addition either way, so
  # the checkpoint must be the plain 2-rank run's, byte for byte
  port=$((port + 1))
  launch 1 2 timeout 120 "$TG" "${ARGS[@]}" --zero 1 --out "$D/z2" >"$D/z2_1.log" 2>&1 &
  launch 0 2 timeout 120 "$TG" "${ARGS[@]}" --zero 1 --out "$D/z2" >"$D/z2_0.log" 2>&1; r0=$?
  wait $!; r1=$?
  if [ $r0 -eq 0 ] && [ $r1 -eq 0 ] && grep -q "zero-1:" "$D/z2_0.log" && cmp -s "$D/r2/ckpt.bin" "$D/z2/ckpt.bin"; then
    echo "PASS nccl_2ranks_zero1_same_weights ($(grep -o 'zero-1: AdamW state [^(]*' "$D/z2_0.log"))"
  else echo "FAIL nccl_2ranks_zero1_same_weights (exit $r0 $r1: $(tail -2 "$D/z2_0.log" "$D/z2_1.log" | tr '\n' ' '))"; rc=1; fi
  # kill -9 of rank 1 mid-run: rank 0 must end within UT_NCCL_TIMEOUT (+ margin), naming itself
  port=$((port + 1))
  # (a subshell that execs: $! is then train_gpu itself, not a shell around it)
  ( UT_NCCL_TIMEOUT=15 exec env RANK=1 WORLD_SIZE=2 LOCAL_RANK=1 MASTER_ADDR=127.0.0.1 MASTER_PORT="$port" \
      "$TG" "${ARGS[@]}" --steps 100000 --out "$D/k" >"$D/k1.log" 2>&1 ) &
  k1=$!
  UT_NCCL_TIMEOUT=15 launch 0 2 timeout 90 "$TG" "${ARGS[@]}" --steps 100000 --out "$D/k" >"$D/k0.log" 2>&1 &
  k0=$!
  sleep 20; kill -9 $k1; t=$(date +%s); wait $k0; r0=$?; t=$(( $(date +%s) - t ))
  if [ $r0 -ne 0 ] && [ $r0 -ne 124 ] && [ $t -lt 40 ] && grep -q 'rank 0 of 2' "$D/k0.log"; then
    echo "PASS nccl_kill_rank_ends_job (rank 0 ended in $t s: $(grep 'rank 0 of 2' "$D/k0.log" | head -1))"
  else echo "FAIL nccl_kill_rank_ends_job (rank 0 exit $r0 after $t s: $(tail -2 "$D/k0.log" | tr '\n' ' '))"; rc=1; fi
fi
rm -rf "$D"
exit $rc
