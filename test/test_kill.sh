#!/usr/bin/env bash
# test_kill.sh — nothing is lost: a run killed with kill -9 in the middle
# (twice), then resumed each time, ends with exactly the losses and the
# weights of a run that was never interrupted (the dead run's lock blocks
# nothing); a second run into a folder in use fails naming the first, which
# finishes untouched; Ctrl-C (SIGINT) saves and exits 130, SIGTERM 143.
# Prints PASS/FAIL/SKIP lines (test/run.sh counts them); exits non-zero on failure.
cd "$(dirname "$0")/.." || exit 1
source test/cli_lib.sh
cli_setup test_kill
pid=
trap '[ -n "$pid" ] && kill -9 $pid 2>/dev/null; rm -rf "$D"' EXIT
export OMP_NUM_THREADS=1

make_corpus "$D/text.txt" 2000
$TOK train --input "$D/text.txt" --vocab-size 300 --output "$D/tok" >/dev/null 2>&1 &&
$TOK encode --model "$D/tok" --input "$D/text.txt" --output "$D/train.bin" >/dev/null 2>&1 ||
  { fail kill_setup "tokenizer failed"; exit 1; }
STEPS=600   # long enough that the second kill lands mid-run on a fast machine
# the sanitizer build runs several times slower: 200 steps leave as much room
# after the second kill (at step >= 100), in a third of the time
[ -n "$UT_SANITIZED" ] && STEPS=200
ARGS=(--train "$D/train.bin" --layers 2 --dim 32 --heads 2 --kv-heads 1 --ffn 64 --experts 2 --top-k 1
      --seq 32 --batch 4 --steps $STEPS --lr 3e-3 --warmup 10)

$TRAIN "${ARGS[@]}" --out "$D/ref" --save-every 0 > "$D/ref.log" 2>&1 || { fail kill_reference_run "$(tail -2 "$D/ref.log")"; exit 1; }

# kill_after_save DIR MIN_STEP: waits until DIR/ckpt.bin holds a step >= MIN_STEP,
# then kill -9s the run (wherever it is: mid-step, mid-save, mid-line).
kill_after_save() {
  for _ in $(seq 1 3000); do
    s=$(u64 "$1/ckpt.bin" 136); [ -n "$s" ] && [ "$s" -ge "$2" ] && break
    kill -0 $pid 2>/dev/null || break
    sleep 0.01
  done
  sleep 0.0$((RANDOM % 10))
  kill -9 $pid 2>/dev/null; local alive=$?
  wait $pid 2>/dev/null
  pid=
  return $alive
}

# run 1: killed after its checkpoint reaches step 60
$TRAIN "${ARGS[@]}" --out "$D/k" --save-every 20 > "$D/k1.log" 2>&1 &
pid=$!
killed=$pid
if ! kill_after_save "$D/k" 60; then
  echo "SKIP kill_mid_run (the run finished before it could be killed: the machine is fast; raise STEPS)"; exit $failed
fi
s1=$(u64 "$D/k/ckpt.bin" 136)
if [ -n "$s1" ] && [ "$s1" -lt $STEPS ] && [ $((s1 % 20)) = 0 ]; then pass killed_mid_run_checkpoint_intact "(step $s1)"
else fail killed_mid_run_checkpoint_intact "checkpoint step '$s1'"; fi

# the killed run's lock stays behind with its pid in it: it must not block the resume
[ "$(cat "$D/k/lock" 2>/dev/null)" = "$killed" ] && stale_lock=1 || stale_lock=0

# run 2: resumed, then killed again further on
$TRAIN --resume "$D/k" --train "$D/train.bin" --save-every 20 > "$D/k2.log" 2>&1 &
pid=$!
if kill_after_save "$D/k" $((s1 + 40)); then pass killed_again_after_resume "(step $(u64 "$D/k/ckpt.bin" 136))"
else echo "SKIP killed_again_after_resume (finished first)"; fi

# run 3: resumed to the end
if $TRAIN --resume "$D/k" --train "$D/train.bin" --save-every 20 > "$D/k3.log" 2>&1; then pass resume_after_kill_finishes
else fail resume_after_kill_finishes "$(tail -2 "$D/k3.log")"; fi
if [ $stale_lock = 1 ] && [ -s "$D/k/ckpt.bin" ] && [ "$(u64 "$D/k/ckpt.bin" 136)" = $STEPS ]; then
  pass stale_lock_after_kill_does_not_block "($D/k/lock held the dead pid $killed)"
else fail stale_lock_after_kill_does_not_block "lock '$(cat "$D/k/lock" 2>/dev/null)', killed pid $killed: $(tail -1 "$D/k2.log")"; fi
if [ "$(train_losses "$D/ref/metrics.jsonl")" = "$(train_losses "$D/k/metrics.jsonl")" ]; then
  pass kill_resume_losses_bit_identical "($STEPS steps)"
else
  fail kill_resume_losses_bit_identical "$(diff <(train_losses "$D/ref/metrics.jsonl") <(train_losses "$D/k/metrics.jsonl") | head -4)"
fi
cmp -s "$D/ref/ckpt.bin" "$D/k/ckpt.bin" && pass kill_resume_weights_bit_identical ||
  fail kill_resume_weights_bit_identical "final checkpoints differ"

# ---- two runs into one folder: the second fails at once, naming the first ----
# The first run is paused (SIGSTOP) once it has saved, so the second certainly
# finds it alive whatever the machine's speed; then it goes on and must end
# exactly as the reference run (nothing of it replaced, nothing shared).
$TRAIN "${ARGS[@]}" --out "$D/busy" --save-every 20 > "$D/busy.log" 2>&1 &
pid=$!
for _ in $(seq 1 3000); do
  [ -n "$(u64 "$D/busy/ckpt.bin" 136)" ] && break
  kill -0 $pid 2>/dev/null || break
  sleep 0.01
done
kill -STOP $pid 2>/dev/null
if [ "$(ps -o stat= -p $pid 2>/dev/null | cut -c1)" != T ]; then
  echo "SKIP second_run_into_busy_folder (the first run finished before it could be paused)"
  wait $pid; pid=
else
  snap() { (cd "$1" && find . -type f | sort | xargs -r cksum); }
  before=$(snap "$D/busy")
  $TRAIN "${ARGS[@]}" --out "$D/busy" > /dev/null 2> "$D/busy.err1"; s1=$?
  $TRAIN --resume "$D/busy" --train "$D/train.bin" > /dev/null 2> "$D/busy.err2"; s2=$?
  after=$(snap "$D/busy")
  for c in "new_run:$s1:$D/busy.err1" "resume:$s2:$D/busy.err2"; do
    IFS=: read -r name s err <<< "$c"
    if [ "$s" = 1 ] && [ "$(wc -l < "$err")" = 1 ] &&
       grep -qF "train: error: $D/busy is in use by another run (pid $pid holds $D/busy/lock)" "$err"; then
      pass "second_run_into_busy_folder_fails_$name"
    else fail "second_run_into_busy_folder_fails_$name" "exit $s: $(cat "$err")"; fi
  done
  [ "$before" = "$after" ] && pass busy_folder_untouched_by_second_run || fail busy_folder_untouched_by_second_run "files changed"
  [ "$(cat "$D/busy/lock" 2>/dev/null)" = $pid ] && pass lock_file_holds_pid || fail lock_file_holds_pid "'$(cat "$D/busy/lock" 2>/dev/null)', not $pid"
  kill -CONT $pid; wait $pid; s=$?; pid=
  if [ $s = 0 ] && [ "$(train_losses "$D/ref/metrics.jsonl")" = "$(train_losses "$D/busy/metrics.jsonl")" ] &&
     cmp -s "$D/ref/ckpt.bin" "$D/busy/ckpt.bin"; then pass first_run_finishes_untouched "(same losses and weights as the reference)"
  else fail first_run_finishes_untouched "exit $s: $(tail -2 "$D/busy.log")"; fi
fi

# stop_by_signal SIG CODE SAID NAME: a run stopped by SIG once it has logged 5
# steps finishes its step, saves it, says how to go on and exits with CODE (128 +
# the signal's number), and its metrics end "stopped", naming the signal as SAID.
# Ctrl-C is SIGINT (130); kill, a Slurm time limit and docker stop send SIGTERM (143).
stop_by_signal() {
  local sig=$1 code=$2 said=$3 name=$4 out=$D/$1 s rows
  $TRAIN "${ARGS[@]}" --out "$out" --save-every 0 > "$out.log" 2>&1 &
  pid=$!
  for _ in $(seq 1 3000); do
    [ "$(train_losses "$out/metrics.jsonl" 2>/dev/null | wc -l)" -ge 5 ] && break
    kill -0 $pid 2>/dev/null || break
    sleep 0.01
  done
  kill -"$sig" $pid 2>/dev/null; wait $pid; s=$?; pid=
  rows=$(train_losses "$out/metrics.jsonl" | wc -l)
  if [ $s = "$code" ] && [ "$(u64 "$out/ckpt.bin" 136)" = "$rows" ] && grep -q 'interrupted: saved step' "$out.log" &&
     grep -q "\"end\":\"stopped\".*$said" "$out/metrics.jsonl"; then
    pass "$name" "(step $rows; metrics.jsonl ends \"stopped\", $said)"
  elif [ $s = 0 ]; then echo "SKIP $name (the run finished first)"
  else fail "$name" "exit $s, checkpoint step $(u64 "$out/ckpt.bin" 136), $rows rows: $(tail -1 "$out/metrics.jsonl")"; fi
}
stop_by_signal INT 130 Ctrl-C ctrl_c_saves_and_exits_130
stop_by_signal TERM 143 SIGTERM sigterm_saves_and_exits_143
exit $failed
