#!/usr/bin/env bash
# test_run.sh — a run you can trust and continue (issue #10, items 5-13):
#   the run record (run.json) and `./train --resume RUN` alone; the printed
#   resume hint works as printed; the expert load and --keep-best survive a
#   resume (metrics identical to an uninterrupted run); sample takes the run's
#   tokenizer and refuses another one; --steps extends a finished run with a
#   constant tail at min-lr; --stop-at at or before the resumed step is an
#   error; `train eval`; the final evaluation is bounded (--eval-tokens) and
#   Ctrl-C stops it (saved, exit 130); the overfitting warning and best.ckpt;
#   the progress line fits an 80- and a 50-column terminal and says when val
#   was measured; the thread tuner changes counts without changing numbers;
#   files that are not regular; `make run` with spaces in the paths.
# Prints PASS/FAIL/SKIP lines (test/run.sh counts them); exits non-zero on failure.
cd "$(dirname "$0")/.." || exit 1
source test/cli_lib.sh
cli_setup test_run

make_corpus "$D/text.txt" 3000
make_corpus "$D/other.txt" 500
$TOK train --input "$D/text.txt" --vocab-size 300 --output "$D/tok" >/dev/null 2>&1 &&
$TOK train --input "$D/other.txt" --vocab-size 300 --output "$D/tok2" >/dev/null 2>&1 &&
$TOK encode --model "$D/tok" --input "$D/text.txt" --output "$D/train.bin" --val-fraction 0.1 \
            --val-output "$D/val.bin" >/dev/null 2>&1 ||
  { fail run_setup "tokenizer failed"; exit 1; }
# the metrics rows of the training itself, without the wall-clock fields (and
# the thread count), to compare runs; the rows each start and end of a process
# writes for the dashboard ("config", "end") are left out
strip() { grep -v '"config":\|"end":' "$1" | sed -E 's/,"(tokens_per_s|ms|elapsed_s|threads)":[0-9.e+-]+//g'; }

# A tiny MoE model, evaluated every 10 steps, keeping the best model.
ARGS=(--train "$D/train.bin" --val "$D/val.bin" --tokenizer "$D/tok" --layers 2 --dim 32 --heads 2 --kv-heads 1
      --ffn 48 --experts 4 --top-k 2 --seq 16 --batch 8 --steps 40 --lr 3e-3 --warmup 5 --eval-every 10
      --eval-batches 4 --keep-best)
export OMP_NUM_THREADS=1

# ---- the run record ------------------------------------------------------------
$TRAIN "${ARGS[@]}" --out "$D/a" > "$D/a.log" 2>&1 || { fail run_a "$(tail -3 "$D/a.log")"; exit 1; }
R=$D/a/run.json
if grep -q "\"train\": {\"path\": \"$D/train.bin\", \"bytes\": $(wc -c < "$D/train.bin"), \"fnv1a64\": \"[0-9a-f]\{16\}\"}" "$R" &&
   grep -q "\"val\": {\"path\": \"$D/val.bin\"" "$R" && grep -q "\"tokenizer\": {\"path\": \"$D/tok\"" "$R" &&
   grep -q '"eval-every": 10' "$R" && grep -q '"keep-best": 1' "$R" && grep -q '"compiler": ' "$R" &&
   grep -q '"from_step": 0, .*"command": \[.*"--keep-best"' "$R"; then pass run_record_written
else fail run_record_written "$(cat "$R")"; fi

# ---- stop at step 15 (not an evaluation step), resume with the printed hint ------
$TRAIN "${ARGS[@]}" --out "$D/b" --stop-at 15 > "$D/b.log" 2>&1
hint=$(sed -n 's/.*continue with: \(.*\)$/\1/p' "$D/b.log")
if [ "${hint%% *}" = ./train ]; then
  if $TRAIN ${hint#./train } > "$D/b2.log" 2>&1; then pass resume_hint_works_as_printed "($hint)"
  else fail resume_hint_works_as_printed "$hint: $(tail -2 "$D/b2.log")"; fi
else fail resume_hint_works_as_printed "no hint in: $(tail -1 "$D/b.log")"; fi
# the same run: metrics (expert load, val rows, best) and both checkpoints
if [ "$(strip "$D/a/metrics.jsonl")" = "$(strip "$D/b/metrics.jsonl")" ]; then pass resumed_metrics_identical
else fail resumed_metrics_identical "$(diff <(strip "$D/a/metrics.jsonl") <(strip "$D/b/metrics.jsonl") | head -4)"; fi
cmp -s "$D/a/ckpt.bin" "$D/b/ckpt.bin" && cmp -s "$D/a/best.ckpt" "$D/b/best.ckpt" && pass resumed_checkpoints_identical ||
  fail resumed_checkpoints_identical "ckpt.bin or best.ckpt differ"
[ "$(grep -c '"from_step"' "$D/b/run.json")" = 2 ] && grep -q '"from_step": 15, ' "$D/b/run.json" &&
  pass run_record_lists_each_start || fail run_record_lists_each_start "$(cat "$D/b/run.json")"

# ---- --keep-best: best.ckpt is the model at the lowest periodic val loss --------
best_step=$(grep '"val_loss"' "$D/a/metrics.jsonl" | grep -v '"final"' | grep -v '"step":0,' |
            sort -t: -k3 -g | awk -F'[:,]' '{print $2; exit}')
if [ -f "$D/a/best.ckpt" ] && [ "$(u64 "$D/a/best.ckpt" 136)" = "$best_step" ] && grep -q "^best: val_loss .* at step $best_step" "$D/a.log"
then pass keep_best_is_lowest_val "(step $best_step)"
else fail keep_best_is_lowest_val "best.ckpt step $(u64 "$D/a/best.ckpt" 136), lowest val at $best_step"; fi

# ---- sample takes the run's tokenizer; another one is refused ------------------
if $TRAIN sample --resume "$D/a" --tokens 20 --seed 3 > "$D/s1" 2> "$D/s1.err" &&
   $TRAIN sample --resume "$D/a" --tokenizer "$D/tok" --tokens 20 --seed 3 > "$D/s2" 2>&1 && cmp -s "$D/s1" "$D/s2" &&
   ! grep -q '<[0-9]*>' "$D/s1"; then pass sample_uses_recorded_tokenizer
else fail sample_uses_recorded_tokenizer "$(head -c 100 "$D/s1") $(cat "$D/s1.err")"; fi
$TRAIN sample --resume "$D/a" --tokenizer "$D/tok2" --tokens 5 > /dev/null 2> "$D/s3.err"; s=$?
if [ $s = 1 ] && grep -q 'is not the file this run recorded' "$D/s3.err"; then pass sample_other_tokenizer_refused
else fail sample_other_tokenizer_refused "exit $s: $(cat "$D/s3.err")"; fi
$TRAIN sample --resume "$D/a" --tokenizer "$D/tok2" --tokens 5 --force > /dev/null 2>&1 && pass sample_force_other_tokenizer ||
  fail sample_force_other_tokenizer "exit $?"

# ---- continue a finished run: --steps N extends it, at min-lr ------------------
cp -r "$D/a" "$D/e"
if $TRAIN --resume "$D/e" --steps 50 > "$D/e.log" 2>&1 && [ "$(u64 "$D/e/ckpt.bin" 136)" = 50 ]; then pass extend_finished_run
else fail extend_finished_run "$(tail -2 "$D/e.log")"; fi
# steps 41..50 at min_lr (default lr/10 = 3e-4); decay_steps 40 at byte 176
lrs=$(grep '"train_loss"' "$D/e/metrics.jsonl" | tail -10 | grep -o '"lr":[^,]*' | cut -d: -f2 | sort -u)
[ "$lrs" = 0.0003 ] && [ "$(u32 "$D/e/ckpt.bin" 176)" = 40 ] && pass extended_steps_at_min_lr ||
  fail extended_steps_at_min_lr "lr of steps 41-50: $lrs; decay_steps $(u32 "$D/e/ckpt.bin" 176)"
# the first 40 steps' rows are untouched
[ "$(strip "$D/a/metrics.jsonl" | grep -v '"final"')" = "$(strip "$D/e/metrics.jsonl" | awk -F'[:,]' '$2 <= 40' | grep -v '"final"')" ] &&
  pass extend_keeps_history || fail extend_keeps_history "rows of steps 1-40 changed"
# extended in two goes (45, then 50) = in one go
cp -r "$D/a" "$D/f"
$TRAIN --resume "$D/f" --steps 45 > /dev/null 2>&1; $TRAIN --resume "$D/f" --steps 50 > /dev/null 2>&1
cmp -s "$D/e/ckpt.bin" "$D/f/ckpt.bin" && pass extend_twice_same_as_once || fail extend_twice_same_as_once "checkpoints differ"
$TRAIN --resume "$D/e" --steps 30 > /dev/null 2> "$D/e2.err"; s=$?
[ $s = 1 ] && grep -q 'extended, not shortened' "$D/e2.err" && pass steps_cannot_shorten || fail steps_cannot_shorten "exit $s: $(cat "$D/e2.err")"
$TRAIN --resume "$D/b" --steps 60 --stop-at 40 > /dev/null 2> "$D/st.err"; s=$?
[ $s = 1 ] && grep -q -- '--stop-at 40 is at or before the checkpoint.s step 40' "$D/st.err" && pass stop_at_before_resume_step ||
  fail stop_at_before_resume_step "exit $s: $(cat "$D/st.err")"

# ---- train eval ------------------------------------------------------------------
final=$(grep '"final":true' "$D/a/metrics.jsonl" | grep -o '"val_loss":[^,]*' | cut -d: -f2)
ev=$($TRAIN eval --resume "$D/a" --json 2> "$D/ev.err")
got=$(echo "$ev" | grep -o '"val_loss":[^,]*' | cut -d: -f2)
if [ -n "$final" ] && [ "$got" = "$final" ] && echo "$ev" | grep -q "\"val\":\"$D/val.bin\""; then
  pass eval_matches_final_evaluation "($got)"
else fail eval_matches_final_evaluation "final $final, eval: $ev $(cat "$D/ev.err")"; fi
ev=$($TRAIN eval --resume "$D/a/best.ckpt" --val "$D/train.bin" --eval-tokens 256 --json 2>&1)
echo "$ev" | grep -q '"tokens":256,' && echo "$ev" | grep -q "\"step\":$best_step," && pass eval_best_on_any_file_bounded ||
  fail eval_best_on_any_file_bounded "$ev"
$TRAIN eval --resume "$D/a" | grep -q '^eval: val_loss .* nats/token, val_bpb .* bits/byte, perplexity ' && pass eval_prints_line ||
  fail eval_prints_line "$($TRAIN eval --resume "$D/a" 2>&1)"

# ---- the final evaluation: bounded by --eval-tokens, stopped by Ctrl-C --------------
$TRAIN --train "$D/train.bin" --val "$D/val.bin" --layers 1 --dim 16 --heads 2 --ffn 16 --seq 16 --batch 8 --steps 2 \
       --eval-tokens 300 --out "$D/g" > /dev/null 2>&1
grep -q '"final":true,"tokens":384}' "$D/g/metrics.jsonl" && pass final_eval_bounded ||
  fail final_eval_bounded "$(grep final "$D/g/metrics.jsonl")"
# a validation file of ~1M tokens read whole: Ctrl-C once the step is done
make_corpus "$D/big.txt" 60000
$TOK encode --model "$D/tok" --input "$D/big.txt" --output "$D/big.bin" > /dev/null 2>&1
$TRAIN --train "$D/train.bin" --val "$D/big.bin" --layers 2 --dim 64 --heads 2 --ffn 128 --experts 1 --seq 64 \
       --batch 8 --steps 1 --eval-tokens 0 --out "$D/h" > "$D/h.log" 2>&1 &
pid=$!
for i in $(seq 1 300); do grep -q '"step":1,"val_loss"' "$D/h/metrics.jsonl" 2>/dev/null && break; sleep 0.1; done
sleep 0.3; kill -INT $pid; wait $pid; s=$?
if [ $s = 130 ] && grep -q '"final":true,.*"interrupted":true' "$D/h/metrics.jsonl" && [ "$(u64 "$D/h/ckpt.bin" 136)" = 1 ] &&
   grep -q 'stopped by Ctrl-C' "$D/h.log"; then pass final_eval_stops_on_ctrl_c
else fail final_eval_stops_on_ctrl_c "exit $s; $(grep final "$D/h/metrics.jsonl"); $(tail -2 "$D/h.log")"; fi

# ---- small data: the overfitting warning -------------------------------------------
# A small training text, and a validation text of other shapes (the same text
# in rot13): learning the first makes the second less likely. (The warning
# comes at step 50; 100 steps leave room, and a short final evaluation.)
head -c 1500 "$D/text.txt" > "$D/tiny.txt"
tr 'a-z' 'n-za-m' < "$D/other.txt" > "$D/rot.txt"
$TOK encode --model "$D/tok" --input "$D/tiny.txt" --output "$D/tiny.bin" > /dev/null 2>&1
$TOK encode --model "$D/tok" --input "$D/rot.txt" --output "$D/rot.bin" > /dev/null 2>&1
$TRAIN --train "$D/tiny.bin" --val "$D/rot.bin" --layers 2 --dim 64 --heads 2 --ffn 128 --experts 1 --seq 16 --batch 8 \
       --steps 100 --lr 1e-2 --eval-every 10 --eval-tokens 2048 --keep-best --out "$D/o" > "$D/o.log" 2>&1
if grep -q '^warning: the validation loss has risen at 3 evaluations in a row' "$D/o.log" &&
   grep -q '"warning":"overfitting' "$D/o/metrics.jsonl" && [ -f "$D/o/best.ckpt" ]; then
  pass overfitting_warned "(at step $(grep -o '"step":[0-9]*,"warning"' "$D/o/metrics.jsonl" | head -1 | grep -o '[0-9]*'))"
else fail overfitting_warned "$(grep -c warning "$D/o.log") warnings: $(tail -2 "$D/o.log")"; fi
# the steady training run above (3000 lines, 40 steps) is not warned about
grep -q warning "$D/a.log" && fail no_warning_when_learning "$(grep warning "$D/a.log")" || pass no_warning_when_learning

# ---- the progress line on a terminal: fits its width; val says its step -------------
if command -v script > /dev/null; then
  for cols in 80 50; do
    COLUMNS=$cols script -qec "stty cols $cols 2>/dev/null; $TRAIN ${ARGS[*]} --out $D/t$cols" /dev/null > "$D/t$cols.log" 2>&1
    longest=$(tr '\r' '\n' < "$D/t$cols.log" | sed 's/\x1b\[K//g' | grep '^step [0-9]*/' | awk '{ if (length > m) m = length } END { print m + 0 }')
    if [ "$longest" -gt 20 ] && [ "$longest" -lt "$cols" ]; then pass "progress_fits_${cols}_columns" "(longest $longest)"
    else fail "progress_fits_${cols}_columns" "longest line $longest"; fi
  done
  tr '\r' '\n' < "$D/t80.log" | grep -q '^step .*loss .*val [0-9.]* ([0-9.]* bpb) @[0-9]' && pass progress_val_names_its_step ||
    fail progress_val_names_its_step "$(tr '\r' '\n' < "$D/t80.log" | grep '^step' | tail -1)"
else
  echo "SKIP progress_fits_terminal (skipped: the script command is missing)"
fi
grep -q '^step .* epoch [0-9.]* ' "$D/a.log" && pass progress_shows_epoch || fail progress_shows_epoch "$(grep '^step' "$D/a.log" | tail -1)"

# ---- the thread tuner: other thread counts mid-run, the same numbers -------------------
if [ "$(nproc --all)" -ge 2 ]; then
  (unset OMP_NUM_THREADS; $TRAIN "${ARGS[@]}" --out "$D/tt" > /dev/null 2>&1)
  counts=$(grep -o '"threads":[0-9]*' "$D/tt/metrics.jsonl" | sort -u | wc -l)
  if [ "$counts" -ge 2 ] && cmp -s "$D/a/ckpt.bin" "$D/tt/ckpt.bin"; then pass thread_tuner_same_numbers "($counts thread counts used)"
  else fail thread_tuner_same_numbers "$counts thread counts; checkpoints $(cmp -s "$D/a/ckpt.bin" "$D/tt/ckpt.bin" && echo same || echo DIFFER)"; fi
else echo "SKIP thread_tuner_same_numbers (skipped: one core)"; fi

# ---- files that are not regular files ---------------------------------------------
for f in /dev/zero "$D"; do
  timeout 20 $TRAIN --train "$f" --steps 1 --out "$D/nr" > /dev/null 2> "$D/nr.err"; s=$?
  [ $s = 1 ] && grep -q "token file $f is not a regular file" "$D/nr.err" && pass "not_regular_${f##*/}" ||
    fail "not_regular_${f##*/}" "exit $s: $(cat "$D/nr.err")"
done
# a token file claiming a vocabulary of 2^32 - 1: printed as such, never as -1
printf 'UTTK\001\000\000\000\377\377\377\377\004\000\000\000\001\000\000\000\000\000\000\000\001\000\000\000\000\000\000\000\000\000\000\000' > "$D/v32.bin"
$TRAIN --train "$D/v32.bin" --steps 1 --out "$D/v32" > /dev/null 2> "$D/v32.err"
grep -q 4294967295 "$D/v32.err" && ! grep -q -- '-1' "$D/v32.err" && pass vocab_2p32_printed_unsigned ||
  fail vocab_2p32_printed_unsigned "$(cat "$D/v32.err")"

# ---- make run with spaces in the text's and the run folder's names --------------------
name="ut test $$"
cp "$D/other.txt" "$D/$name.txt"
if make -s run TEXT="$D/$name.txt" VOCAB=260 RUN_DIR="$D/runs dir" \
     RUN_ARGS="--steps 3 --layers 1 --dim 16 --heads 2 --kv-heads 1 --ffn 16 --seq 16 --batch 2 --eval-every 0" > "$D/mr.log" 2>&1 &&
   [ -f "$D/runs dir/$name/ckpt.bin" ] && [ -f "data/$name.tok" ]; then pass make_run_with_spaces
else fail make_run_with_spaces "$(tail -3 "$D/mr.log")"; fi
rm -f "data/$name.tok" "data/$name.train.bin" "data/$name.val.bin"

exit $failed
