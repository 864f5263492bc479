#!/usr/bin/env bash
# test_mpi.sh — data-parallel training across processes (issue 14, CPU):
# ./train_mpi on 2 ranks (mpirun) against ./train --grad-accum 2 in one
# process, on a tiny MoE model and a generated corpus, 50 steps:
#   - the losses and the val_loss rows (metrics.jsonl: the evaluations are
#     shared by the ranks), the weights after EVERY step (a checksum
#     each rank prints with UT_CHECKSUMS=1) and the final checkpoint file
#     (weights and both AdamW moments) are bit-identical — tolerance zero —
#     without and with --zero 1; every rank prints the same checksum;
#   - a run stopped at step 25 and resumed with another rank count (2 -> 1,
#     1 -> 2) ends bit-identical to the uninterrupted run;
#   - kill -9 of one rank ends the whole job within 20 s, and mpirun names
#     the rank; a rank that hangs (SIGSTOP) is ended by the others' watchdog
#     (UT_MPI_TIMEOUT=4) with a line naming the waiting rank; an error on one rank only (a bad token file given to rank 1)
#     ends the job with that rank's error line, no hang;
#   - a checkpoint whose micro-batches the ranks cannot share is refused;
#   - `train eval` on 2 ranks prints ./train eval's line; `sample` under
#     mpirun runs on rank 0 alone;
#   - LoRA and QLoRA fine-tuning: 2 ranks = one process with --grad-accum 2,
#     bit for bit (adapter.bin, losses, the adapter after every step).
# Every mpirun is wrapped in `timeout`, so a hang is a FAIL, never a stuck test.
# SKIP lines when mpirun or $BIN/train_mpi is missing (make train_mpi; Debian:
# apt-get install openmpi-bin libopenmpi-dev).
# Prints PASS/FAIL/SKIP lines (test/run.sh counts them); exits non-zero on failure.
cd "$(dirname "$0")/.." || exit 1
source test/cli_lib.sh
cli_setup test_mpi
MPI=$BIN/train_mpi
if ! command -v mpirun > /dev/null; then echo "SKIP mpi mpirun not found (apt-get install openmpi-bin libopenmpi-dev)"; exit 0; fi
if [ ! -x "$MPI" ]; then echo "SKIP mpi $MPI is not built (make train_mpi needs mpicc: apt-get install libopenmpi-dev)"; exit 0; fi

# One OpenMP thread per rank, ranks sleep while waiting (the machine may have
# 2 cores for 2 ranks and other work). mpirun: as root it must be allowed;
# --oversubscribe: more ranks than free cores is fine; --bind-to none: the
# default binds each rank to one core (README, "Training on several processes").
export OMP_NUM_THREADS=1 OMP_WAIT_POLICY=passive
# In `make test-asan`, train_mpi is built with AddressSanitizer: its leak
# check reports memory Open MPI keeps until exit (not ours), so it is off here.
export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0
MPIRUN=(timeout 120 mpirun --allow-run-as-root --oversubscribe --bind-to none)

make_corpus "$D/text.txt" 2000
$TOK train --input "$D/text.txt" --vocab-size 300 --output "$D/tok" > /dev/null 2>&1 &&
$TOK encode --model "$D/tok" --input "$D/text.txt" --output "$D/train.bin" > /dev/null 2>&1 ||
  { fail mpi_setup "tokenizer failed"; exit 1; }
tail -n 300 "$D/text.txt" > "$D/valtext.txt"
$TOK encode --model "$D/tok" --input "$D/valtext.txt" --output "$D/val.bin" > /dev/null 2>&1 || { fail mpi_setup "encoding the val text failed"; exit 1; }
NET=(--train "$D/train.bin" --layers 2 --dim 32 --heads 4 --kv-heads 2 --ffn 64 --experts 4 --top-k 2
     --seq 32 --batch 4 --lr 3e-3 --warmup 5 --save-every 0)
MODEL=("${NET[@]}" --eval-every 0)
# the 50-step runs evaluate too (every 10 steps, 5 batches: an odd count, so
# with 2 ranks rank 1 sits out the last round; and the final evaluation)
ARGS=("${NET[@]}" --val "$D/val.bin" --eval-every 10 --eval-batches 5 --steps 50)

# checksums LOG RANK: "step hash" for each step, from UT_CHECKSUMS lines of one rank
checksums() { grep "^checksum step .* rank $2:" "$1" | awk '{print $3, $6}'; }

# the reference: one process, two micro-batches of 4 per step
UT_CHECKSUMS=1 $TRAIN "${ARGS[@]}" --grad-accum 2 --out "$D/one" > "$D/one.log" 2> "$D/one.err" ||
  { fail mpi_reference "$(tail -2 "$D/one.err")"; exit 1; }
[ "$(checksums "$D/one.err" 0 | wc -l)" = 50 ] || fail mpi_reference "expected 50 checksum lines, got: $(head -3 "$D/one.err")"

# the val_loss rows of a metrics.jsonl, without their times
vals() { grep val_loss "$1" | sed 's/,"elapsed_s":[0-9.]*//'; }
# same_run DIR NAME: DIR's losses, val_loss rows and checkpoint are bit-identical to one/'s
same_run() {
  if [ "$(train_losses "$1/metrics.jsonl" | wc -l)" != 50 ]; then fail "$2" "$1/metrics.jsonl has $(train_losses "$1/metrics.jsonl" | wc -l) train rows, not 50"
  elif ! cmp -s <(train_losses "$D/one/metrics.jsonl") <(train_losses "$1/metrics.jsonl"); then
    fail "$2" "losses differ: $(diff <(train_losses "$D/one/metrics.jsonl") <(train_losses "$1/metrics.jsonl") | head -4 | tr '\n' ' ')"
  elif ! cmp -s "$D/one/ckpt.bin" "$1/ckpt.bin"; then fail "$2" "the losses agree but ckpt.bin differs: $(cmp "$D/one/ckpt.bin" "$1/ckpt.bin")"
  elif [ "$(vals "$D/one/metrics.jsonl" | grep -c .)" != 7 ] || [ "$(vals "$D/one/metrics.jsonl")" != "$(vals "$1/metrics.jsonl")" ]; then
    fail "$2" "the val_loss rows differ: $(diff <(vals "$D/one/metrics.jsonl") <(vals "$1/metrics.jsonl") | head -4 | tr '\n' ' ')"
  else pass "$2" "50 losses, 7 val_loss rows (steps 0, 10, ..., 50 and the final evaluation, shared by the ranks) and the final checkpoint (weights, AdamW moments) bit-identical to one process"; fi
}

for zero in 0 1; do
  name=two_z$zero
  s0=$(date +%s)
  UT_CHECKSUMS=1 "${MPIRUN[@]}" -np 2 "$MPI" "${ARGS[@]}" --zero $zero --out "$D/$name" > "$D/$name.log" 2> "$D/$name.err"
  rc=$?
  if [ $rc -ne 0 ]; then fail "mpi_2ranks_zero$zero" "exit $rc: $(tail -3 "$D/$name.err")"; continue; fi
  same_run "$D/$name" "mpi_2ranks_equal_grad_accum_2_zero$zero"
  # the weights after every step: rank 0 = rank 1 = one process
  c0=$(checksums "$D/$name.err" 0) c1=$(checksums "$D/$name.err" 1) ref=$(checksums "$D/one.err" 0)
  if [ "$(echo "$c0" | grep -c .)" != 50 ]; then fail "mpi_checksums_zero$zero" "rank 0 printed $(echo "$c0" | grep -c .) checksums, not 50"
  elif [ "$c0" != "$c1" ]; then fail "mpi_checksums_zero$zero" "rank 0 and rank 1 differ: $(diff <(echo "$c0") <(echo "$c1") | head -3 | tr '\n' ' ')"
  elif [ "$c0" != "$ref" ]; then fail "mpi_checksums_zero$zero" "the ranks agree but differ from one process: $(diff <(echo "$ref") <(echo "$c0") | head -3 | tr '\n' ' ')"
  else pass "mpi_checksums_zero$zero" "the weights' checksum after each of 50 steps is the same on both ranks and in one process ($(( $(date +%s) - s0 )) s)"; fi
done
grep -q "^zero-1: AdamW state .* MB per rank" "$D/two_z1.log" && pass mpi_zero_memory_line "$(grep '^zero-1' "$D/two_z1.log")" ||
  fail mpi_zero_memory_line "no 'zero-1: AdamW state ... per rank' line in the output"
# --dry-run on 2 ranks with --zero 1: the memory line is one rank's, AdamW its shard's
line=$("${MPIRUN[@]}" -np 2 "$MPI" "${MODEL[@]}" --steps 50 --zero 1 --dry-run --out "$D/dry" 2>&1 | grep '^memory:')
echo "$line" | grep -q "MB per rank = .* AdamW 0.4 (ZeRO-1: this rank's shard)" &&
  pass mpi_dry_run_memory_per_rank "$line" || fail mpi_dry_run_memory_per_rank "'$line' (expected AdamW 0.4: the 0.39 MB of the zero-1 line)"
# the run's config row (metrics.jsonl, the dashboard's settings) says how it ran
grep -q '"ranks":2,"zero":1,' "$D/two_z1/metrics.jsonl" && grep -q '"ranks":1,"zero":0,' "$D/one/metrics.jsonl" &&
  pass mpi_config_row_ranks '"ranks":2,"zero":1 (2 ranks, --zero 1); "ranks":1,"zero":0 (one process)' ||
  fail mpi_config_row_ranks "$(grep -o '"ranks":[0-9]*,"zero":[0-9]*' "$D/two_z1/metrics.jsonl" "$D/one/metrics.jsonl" | tr '\n' ' ')"
# only rank 0 prints: one config line, not two
n=$(grep -c '^train: L=' "$D/two_z0.log")
[ "$n" = 1 ] && pass mpi_rank0_prints "one config line from 2 ranks" || fail mpi_rank0_prints "$n config lines"

# resume with another rank count: 2 ranks (ZeRO-1) stop at 25, ./train goes on; and 1 -> 2
"${MPIRUN[@]}" -np 2 "$MPI" "${ARGS[@]}" --zero 1 --stop-at 25 --out "$D/r21" > "$D/r21.log" 2>&1 &&
  $TRAIN --resume "$D/r21" >> "$D/r21.log" 2>&1 &&
  same_run "$D/r21" mpi_resume_2_ranks_then_1 || fail mpi_resume_2_ranks_then_1 "$(tail -3 "$D/r21.log")"
# --zero 1 is recorded in run.json and applies again on --resume (a resumed
# big run must not run out of memory because a flag was forgotten)
# (on several ranks: r21 was resumed by one process, which leaves it out)
"${MPIRUN[@]}" -np 2 "$MPI" "${ARGS[@]}" --zero 1 --stop-at 25 --out "$D/rz" > "$D/rz.log" 2>&1 &&
  "${MPIRUN[@]}" -np 2 "$MPI" --resume "$D/rz" --stop-at 30 >> "$D/rz.log" 2>&1
n=$(grep -c '^zero-1: AdamW state' "$D/rz.log") n1=$(grep -c '^zero-1: AdamW state' "$D/r21.log")
[ "$n" = 2 ] && [ "$n1" = 1 ] && grep -q '"zero": 1' "$D/rz/run.json" &&
  pass mpi_resume_keeps_zero "run.json options \"zero\": 1; resumed on 2 ranks it printed its zero-1 line again, in one process not" ||
  fail mpi_resume_keeps_zero "$n zero-1 lines in the two 2-rank starts, $n1 in 2 ranks + 1 process; $(grep -o '"zero": [0-9]' "$D/rz/run.json")"
$TRAIN "${ARGS[@]}" --grad-accum 2 --stop-at 25 --out "$D/r12" > "$D/r12.log" 2>&1 &&
  "${MPIRUN[@]}" -np 2 "$MPI" --resume "$D/r12" >> "$D/r12.log" 2>&1 &&
  same_run "$D/r12" mpi_resume_1_then_2_ranks || fail mpi_resume_1_then_2_ranks "$(tail -3 "$D/r12.log")"

# `train eval` on 2 ranks shares the batches too: the line of ./train eval
e1=$($TRAIN eval --resume "$D/one" --eval-tokens 0 2>&1 | grep '^eval:' | sed 's/; [0-9.]* s$//')
e2=$("${MPIRUN[@]}" -np 2 "$MPI" eval --resume "$D/one" --eval-tokens 0 2>&1 | tr '\r' '\n' | sed 's/\x1b\[K//g' | grep '^eval:' | sed 's/; [0-9.]* s$//')
[ -n "$e1" ] && [ "$e1" = "$e2" ] && pass mpi_eval_command_shared "$e2" || fail mpi_eval_command_shared "one process: '$e1'; 2 ranks: '$e2'"

# the one-process commands (sample, export, merge, ...) under mpirun: rank 0
# alone runs them, so the text is printed once and files are written once
# (--probs to standard error: one rank writes it once; two would write it twice)
s1=$($TRAIN sample --resume "$D/one" --tokenizer "$D/tok" --tokens 30 --seed 7 --probs /dev/stderr 2> "$D/probs1")
s2=$("${MPIRUN[@]}" -np 2 "$MPI" sample --resume "$D/one" --tokenizer "$D/tok" --tokens 30 --seed 7 --probs /dev/stderr 2> "$D/probs2"); rc=$?
b1=$(wc -c < "$D/probs1") b2=$(wc -c < "$D/probs2")
[ $rc -eq 0 ] && [ -n "$s1" ] && [ "$s1" = "$s2" ] && [ "$b1" -gt 0 ] && [ "$b1" = "$b2" ] &&
  pass mpi_sample_rank0_alone "the text of ./train sample, and its --probs written once ($b2 bytes)" ||
  fail mpi_sample_rank0_alone "exit $rc; probs bytes $b1 vs $b2; one process: '$(echo "$s1" | head -c 80)'; 2 ranks: '$(echo "$s2" | head -c 160)'"

# export measures the f16 cost with an evaluation: rank 0 alone, as a world
# of one (a collective there would wait for ranks that are not in it)
$TRAIN export --resume "$D/one" --tokenizer "$D/tok" --format gguf --dtype f16 --out "$D/one.gguf" > /dev/null 2>&1
out=$(UT_MPI_TIMEOUT=10 "${MPIRUN[@]}" -np 2 "$MPI" export --resume "$D/one" --tokenizer "$D/tok" --format gguf --dtype f16 \
      --out "$D/two.gguf" 2>&1); rc=$?
if [ $rc -eq 0 ] && echo "$out" | grep -q "quantisation cost" && cmp -s "$D/one.gguf" "$D/two.gguf"; then
  pass mpi_export_rank0_alone "the GGUF of ./train export, byte for byte; $(echo "$out" | grep -o 'val_loss f32 .*')"
else fail mpi_export_rank0_alone "exit $rc: $(echo "$out" | grep -v '^$' | tail -n 3 | tr '\n' ' ')"; fi

# a step of 3 micro-batches cannot be shared by 2 ranks
$TRAIN "${ARGS[@]}" --grad-accum 3 --stop-at 1 --out "$D/odd" > /dev/null 2>&1
out=$("${MPIRUN[@]}" -np 2 "$MPI" --resume "$D/odd" 2>&1); rc=$?
if [ $rc -ne 0 ] && echo "$out" | grep -q "3 micro-batches per step, which 2 ranks cannot share"; then
  pass mpi_uneven_accum_refused "$(echo "$out" | grep -m1 'error:')"
else fail mpi_uneven_accum_refused "exit $rc: $(echo "$out" | tail -2)"; fi

# LoRA fine-tuning on 2 ranks (base: one/, frozen): each rank's adapter
# gradient is summed over the ranks, every rank makes the same update; the
# adapter (and its AdamW moments) after 20 steps, the losses, and the
# adapter's checksum after every step equal one process with --grad-accum 2;
# the same with the base held as int8 (QLoRA), and stopped at step 8 by 2
# ranks then resumed by one process. --zero 1 has nothing to shard: refused.
LORA=(--init-from "$D/one" --lora-rank 4 --lora-alpha 8 --train "$D/train.bin" --steps 20 --batch 4 --eval-every 0 --save-every 0)
# same_adapter NAME REF DIR: DIR's losses and adapter.bin are REF's
same_adapter() {
  if [ "$(train_losses "$3/metrics.jsonl" | wc -l)" != 20 ]; then fail "$1" "$3/metrics.jsonl has $(train_losses "$3/metrics.jsonl" | wc -l) train rows, not 20"
  elif ! cmp -s <(train_losses "$2/metrics.jsonl") <(train_losses "$3/metrics.jsonl"); then
    fail "$1" "losses differ: $(diff <(train_losses "$2/metrics.jsonl") <(train_losses "$3/metrics.jsonl") | head -4 | tr '\n' ' ')"
  elif ! cmp -s "$2/adapter.bin" "$3/adapter.bin"; then fail "$1" "the losses agree but adapter.bin differs: $(cmp "$2/adapter.bin" "$3/adapter.bin")"
  else pass "$1" "20 losses and adapter.bin (the adapter, its AdamW moments) bit-identical to one process"; fi
}
for q in f32 int8; do
  QA=(); [ $q = int8 ] && QA=(--base-dtype int8 --group 16)
  UT_CHECKSUMS=1 $TRAIN "${LORA[@]}" "${QA[@]}" --grad-accum 2 --out "$D/lora1_$q" > "$D/lora1_$q.log" 2> "$D/lora1_$q.err" &&
  UT_CHECKSUMS=1 "${MPIRUN[@]}" -np 2 "$MPI" "${LORA[@]}" "${QA[@]}" --out "$D/lora2_$q" > "$D/lora2_$q.log" 2> "$D/lora2_$q.err" ||
    { fail "mpi_lora_2ranks_$q" "$(tail -n 3 "$D/lora1_$q.err" "$D/lora2_$q.err" | tr '\n' ' ')"; continue; }
  same_adapter "mpi_lora_2ranks_equal_grad_accum_2_$q" "$D/lora1_$q" "$D/lora2_$q"
  c0=$(checksums "$D/lora2_$q.err" 0) c1=$(checksums "$D/lora2_$q.err" 1) ref=$(checksums "$D/lora1_$q.err" 0)
  if [ "$(echo "$c0" | grep -c .)" = 20 ] && [ "$c0" = "$c1" ] && [ "$c0" = "$ref" ]; then
    pass "mpi_lora_checksums_$q" "the adapter's checksum after each of 20 steps is the same on both ranks and in one process"
  else fail "mpi_lora_checksums_$q" "$(echo "$c0" | grep -c .) lines; rank 0/rank 1/one process: $(echo "$c0" | tail -n 1) / $(echo "$c1" | tail -n 1) / $(echo "$ref" | tail -n 1)"; fi
done
grep -q "^lora: rank 4" "$D/lora2_f32.log" && [ "$(grep -c '^lora:' "$D/lora2_f32.log")" = 1 ] &&
  pass mpi_lora_rank0_prints "$(grep '^lora:' "$D/lora2_f32.log" | cut -c1-60)..." || fail mpi_lora_rank0_prints "$(grep -c '^lora:' "$D/lora2_f32.log") lora lines"
"${MPIRUN[@]}" -np 2 "$MPI" "${LORA[@]}" --stop-at 8 --out "$D/lora21" > "$D/lora21.log" 2>&1 &&
  $TRAIN --resume "$D/lora21" >> "$D/lora21.log" 2>&1 &&
  same_adapter mpi_lora_resume_2_ranks_then_1 "$D/lora1_f32" "$D/lora21" || fail mpi_lora_resume_2_ranks_then_1 "$(tail -n 3 "$D/lora21.log")"
out=$("${MPIRUN[@]}" -np 2 "$MPI" "${LORA[@]}" --zero 1 --out "$D/loraz" 2>&1); rc=$?
if [ $rc -ne 0 ] && [ $rc -ne 124 ] && echo "$out" | grep -q "error: .*--zero 1 .* a LoRA run's is"; then
  pass mpi_lora_zero_refused "$(echo "$out" | grep -m1 'error:')"
else fail mpi_lora_zero_refused "exit $rc: $(echo "$out" | tail -n 2 | tr '\n' ' ')"; fi

# kill -9 of rank 1 in mid-run: mpirun ends the job and names the rank
"${MPIRUN[@]}" -np 2 "$MPI" "${MODEL[@]}" --steps 1000000 --out "$D/kill" > "$D/kill.log" 2>&1 &
tpid=$!
for _ in $(seq 1 600); do grep -qs train_loss "$D/kill/metrics.jsonl" && break; sleep 0.05; done
mpid=$(pgrep -P $tpid)                                 # timeout's child: mpirun
ranks=$(for p in $(pgrep -P "$mpid"); do echo "$p"; done | sort -n)
victim=$(echo "$ranks" | sed -n 2p)
if [ -z "$victim" ]; then
  fail mpi_kill_one_rank "could not find the ranks under mpirun (pid $mpid): $(tail -2 "$D/kill.log")"; kill $tpid 2>/dev/null
else
  t0=$(date +%s.%N)
  kill -9 "$victim"
  ( sleep 20; kill -9 "$mpid" 2>/dev/null ) & watchdog=$!   # bounded: never wait more than 20 s
  wait $tpid; rc=$?
  kill $watchdog 2>/dev/null; wait $watchdog 2>/dev/null
  dt=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN {printf "%.1f", b - a}')
  msg=$(grep -m1 "exited on signal 9" "$D/kill.log")
  if [ $rc -ne 0 ] && awk -v d="$dt" 'BEGIN {exit !(d < 20)}' && [ -n "$msg" ]; then
    pass mpi_kill_one_rank "the job ended ${dt} s after kill -9 of one rank, exit $rc: '$(echo "$msg" | sed 's/ with PID.*on node [^ ]*//')'"
  else fail mpi_kill_one_rank "exit $rc after ${dt} s; log: $(tail -4 "$D/kill.log" | tr '\n' ' ')"; fi
fi

# a rank that hangs (stopped with SIGSTOP: alive, so mpirun sees nothing):
# the other's watchdog ends it after UT_MPI_TIMEOUT seconds with a line
# naming itself and the collective, and mpirun ends the job
UT_MPI_TIMEOUT=4 "${MPIRUN[@]}" -np 2 "$MPI" "${MODEL[@]}" --steps 1000000 --out "$D/hang" > "$D/hang.log" 2>&1 &
tpid=$!
for _ in $(seq 1 600); do grep -qs train_loss "$D/hang/metrics.jsonl" && break; sleep 0.05; done
mpid=$(pgrep -P $tpid)
victim=$(pgrep -P "$mpid" | sort -n | head -1)
if [ -z "$victim" ]; then
  fail mpi_hung_rank_ends_job "could not find the ranks under mpirun (pid $mpid): $(tail -2 "$D/hang.log")"; kill $tpid 2>/dev/null
else
  t0=$(date +%s.%N)
  kill -STOP "$victim"
  ( sleep 30; kill -9 "$mpid" 2>/dev/null ) & watchdog=$!   # bounded: never wait more than 30 s
  wait $tpid; rc=$?
  kill $watchdog 2>/dev/null; wait $watchdog 2>/dev/null
  kill -9 "$victim" 2>/dev/null; kill -CONT "$victim" 2>/dev/null   # if mpirun left it (it should not)
  dt=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN {printf "%.1f", b - a}')
  msg=$(tr '\r' '\n' < "$D/hang.log" | grep -o -m1 "train: error: \[rank [01] of 2\] the .* has waited 4 s (UT_MPI_TIMEOUT)")
  if [ $rc -ne 0 ] && awk -v d="$dt" 'BEGIN {exit !(d >= 4 && d < 30)}' && [ -n "$msg" ]; then
    pass mpi_hung_rank_ends_job "the job ended ${dt} s after SIGSTOP of one rank, exit $rc: '$msg'"
  else fail mpi_hung_rank_ends_job "exit $rc after ${dt} s; log: $(grep -v '^step' "$D/hang.log" | tail -4 | tr '\n' ' ')"; fi
fi

# an error on one rank only (rank 1 is given a truncated token file; MPMD
# launch: each side of ':' is a rank): every rank stops, the error names rank 1
head -c 100 "$D/train.bin" > "$D/bad.bin"
t0=$(date +%s)
out=$("${MPIRUN[@]}" -np 1 "$MPI" "${ARGS[@]}" --out "$D/err" : -np 1 "$MPI" "${ARGS[@]/$D\/train.bin/$D/bad.bin}" --out "$D/err" 2>&1)
rc=$?
line=$(echo "$out" | grep -m1 "error: \[rank 1 of 2\].*bad.bin")
if [ $rc -ne 0 ] && [ $rc -ne 124 ] && [ -n "$line" ]; then
  pass mpi_error_on_one_rank "exit $rc after $(( $(date +%s) - t0 )) s: $line"
else fail mpi_error_on_one_rank "exit $rc (124: hung until timeout): $(echo "$out" | tail -3 | tr '\n' ' ')"; fi
exit $failed
