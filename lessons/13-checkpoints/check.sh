#!/usr/bin/env bash
# lessons/13-checkpoints/check.sh IMPL — builds check.c with IMPL.c (your
# exercise.c, or solution.c) and runs its checks of your checkpoint inspector;
# then drives ./train on a small generated token file:
#   kill -9 a run after a checkpoint, read that checkpoint with your inspector,
#   resume it, and compare with a run never interrupted (losses and weights
#   bit-identical); then 1 thread against 2 threads (bit-identical too).
# LONG=1 adds the exercise: reduce.c, a sum split across threads.
set -u
impl=$1
prog=$BUILD/lessons/13-$impl
# shellcheck disable=SC2086
if ! $CC $CFLAGS -I. -DLESSON_IMPL="\"$impl.c\"" -o "$prog" "$LESSON_DIR/check.c" -lm; then
  echo "FAIL lesson_13_builds $LESSON_DIR/$impl.c does not compile (the errors are above)"; exit 1
fi
failed=0
"$prog" checks || failed=1

TRAIN=$BIN/train
[ -x "$TRAIN" ] || { echo "FAIL train_built $TRAIN is not built (make)"; exit 1; }
D=$(mktemp -d "${TMPDIR:-/tmp}/lesson13.XXXXXX") || exit 1
pid=
trap '[ -n "$pid" ] && kill -9 $pid 2>/dev/null; rm -rf "$D"' EXIT
pass() { echo "PASS $*"; }
fail() { echo "FAIL $*"; failed=1; }
losses() { grep -o '"train_loss":[^,}]*' "$1" | cut -d: -f2; }
step_of() { od -An -t u8 -j 136 -N 8 "$1" 2>/dev/null | tr -d ' '; }   # u64 at offset 136 (little-endian host)

"$prog" tokens "$D/train.bin" || { fail token_file "could not write $D/train.bin"; exit 1; }
STEPS=300
ARGS=(--train "$D/train.bin" --layers 1 --dim 32 --heads 2 --kv-heads 1 --ffn 64 --experts 2 --top-k 1
      --seq 32 --batch 4 --steps "$STEPS" --lr 3e-3 --warmup 10 --threads 1 --log-every 1000)

# the reference: never interrupted
"$TRAIN" "${ARGS[@]}" --out "$D/ref" --save-every 0 > "$D/ref.log" 2>&1 || { fail reference_run "$(tail -2 "$D/ref.log")"; exit 1; }

# killed with kill -9 once its checkpoint holds step >= 20 (saved every 20 steps)
"$TRAIN" "${ARGS[@]}" --out "$D/k" --save-every 20 > "$D/k1.log" 2>&1 &
pid=$!
for _ in $(seq 1 2000); do
  s=$(step_of "$D/k/ckpt.bin"); [ -n "$s" ] && [ "$s" -ge 20 ] && break
  kill -0 $pid 2> /dev/null || break
  sleep 0.005
done
kill -9 $pid 2> /dev/null; killed=$?
wait $pid 2> /dev/null; pid=
seen=$("$prog" inspect "$D/k/ckpt.bin")
s=${seen#step }; s=${s% ok}
if [ $killed != 0 ]; then
  fail killed_mid_run "the run ended before the kill (step $s of $STEPS): raise STEPS"
elif [ "$seen" = "step $s ok" ] && [ "$s" -ge 20 ] && [ "$s" -lt $STEPS ] && [ $((s % 20)) = 0 ]; then
  pass killed_checkpoint_intact "kill -9 at step >= 20: your inspector reads step $s, checksum good (a multiple of 20)"
else
  fail killed_checkpoint_intact "your inspector says '$seen' of the checkpoint left by kill -9"
fi

# resumed to the end: the same losses and the same final weights as the reference
if "$TRAIN" --resume "$D/k" --train "$D/train.bin" > "$D/k2.log" 2>&1; then
  if [ "$(losses "$D/ref/metrics.jsonl")" = "$(losses "$D/k/metrics.jsonl")" ] && [ "$(losses "$D/k/metrics.jsonl" | wc -l)" = $STEPS ]; then
    pass resume_losses_bit_identical "$STEPS losses (%.9g) of killed + resumed = uninterrupted; last $(losses "$D/ref/metrics.jsonl" | tail -1)"
  else
    fail resume_losses_bit_identical "$(diff <(losses "$D/ref/metrics.jsonl") <(losses "$D/k/metrics.jsonl") | head -4 | tr '\n' ' ')"
  fi
  if cmp -s "$D/ref/ckpt.bin" "$D/k/ckpt.bin"; then pass resume_weights_bit_identical "final ckpt.bin files are byte-for-byte equal"
  else fail resume_weights_bit_identical "the final checkpoints differ"; fi
else
  fail resume_finishes "$(tail -2 "$D/k2.log")"
fi

# 2 threads against 1: every reduction has a fixed order, so nothing changes
# (passive: waiting threads sleep; spinning ones crawl on a busy machine)
export OMP_WAIT_POLICY=passive
ARGS2=(--train "$D/train.bin" --layers 2 --dim 32 --heads 4 --kv-heads 2 --ffn 64 --experts 4 --top-k 2
       --seq 32 --batch 8 --steps 20 --lr 3e-3 --warmup 2 --log-every 1000 --save-every 0)
if ! "$TRAIN" "${ARGS2[@]}" --threads 1 --out "$D/t1" > "$D/t1.log" 2>&1 ||
   ! "$TRAIN" "${ARGS2[@]}" --threads 2 --out "$D/t2" > "$D/t2.log" 2>&1; then
  fail threads_run "$(tail -2 "$D/t1.log" "$D/t2.log")"
fi
if cmp -s "$D/t1/ckpt.bin" "$D/t2/ckpt.bin" && [ "$(losses "$D/t1/metrics.jsonl")" = "$(losses "$D/t2/metrics.jsonl")" ]; then
  pass threads_1_and_2_bit_identical "20 steps, losses and ckpt.bin equal$(grep -q 'threads' "$D/t2.log" && grep -o '[0-9]* threads\?' "$D/t2.log" | head -1 | sed 's/^/ (run 2: /;s/$/)/')"
else
  fail threads_1_and_2_bit_identical "$(diff <(losses "$D/t1/metrics.jsonl") <(losses "$D/t2/metrics.jsonl") | head -4 | tr '\n' ' ')"
fi

if [ -n "${LONG:-}" ]; then
  # shellcheck disable=SC2086
  $CC $CFLAGS -o "$BUILD/lessons/13-reduce" "$LESSON_DIR/reduce.c" -lm && "$BUILD/lessons/13-reduce" | sed 's/^/LONG /'
fi
exit $failed
