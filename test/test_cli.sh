#!/usr/bin/env bash
# test_cli.sh — the ./train command line end to end (issue #4):
#   tokenizer train -> encode -> train a tiny MoE model -> the loss falls ->
#   checkpoint -> stop and resume gives bit-identical losses and weights ->
#   sample (KV cache, past the context length) -> a vocabulary of 8 samples
#   (no newline token to start from) -> dry run.
# Prints PASS/FAIL lines (test/run.sh counts them); exits non-zero on failure.
# Uses $BIN/train and $BIN/tokenizer (BIN=. normally, build-asan for `make test-asan`).
cd "$(dirname "$0")/.." || exit 1
source test/cli_lib.sh
cli_setup test_cli

make_corpus "$D/text.txt" 3000
$TOK train --input "$D/text.txt" --vocab-size 300 --output "$D/tok" >/dev/null 2>"$D/err" &&
$TOK encode --model "$D/tok" --input "$D/text.txt" --output "$D/train.bin" --val-fraction 0.1 \
            --val-output "$D/val.bin" >/dev/null 2>>"$D/err"
if [ -s "$D/train.bin" ] && [ -s "$D/val.bin" ]; then pass tokenizer_makes_token_files
else fail tokenizer_makes_token_files "$(head -3 "$D/err")"; exit 1; fi

# A tiny model with every part of the architecture: GQA (2 heads, 1 KV head),
# RoPE, SwiGLU, MoE (4 experts, top-2). 60 steps of 8 x 16 tokens.
ARGS=(--train "$D/train.bin" --val "$D/val.bin" --tokenizer "$D/tok" --layers 2 --dim 32 --heads 2 --kv-heads 1
      --ffn 48 --experts 4 --top-k 2 --seq 16 --batch 8 --steps 60 --lr 3e-3 --warmup 5 --eval-every 20
      --eval-batches 4 --save-every 20)
# one thread unless a test says otherwise: tiny matrices gain nothing from more
export OMP_NUM_THREADS=1

# ---- train, the loss falls, the files it writes -----------------------------
if $TRAIN "${ARGS[@]}" --out "$D/a" > "$D/a.log" 2>&1; then pass train_exits_0
else fail train_exits_0 "$(tail -3 "$D/a.log")"; exit 1; fi
grep -q '^train: L=2 D=32 H=2 KVH=1 HD=16 F=48 E=4 K=2 T=16 V=301' "$D/a.log" && pass config_summary_line ||
  fail config_summary_line "$(head -1 "$D/a.log")"
n=$(train_losses "$D/a/metrics.jsonl" | wc -l)
[ "$n" = 60 ] && pass metrics_one_train_row_per_step || fail metrics_one_train_row_per_step "$n rows"
first=$(train_losses "$D/a/metrics.jsonl" | head -1)
last5=$(train_losses "$D/a/metrics.jsonl" | tail -5 | awk '{s += $1} END {print s / NR}')
if awk -v a="$first" -v b="$last5" 'BEGIN {exit !(a > 5.0 && b < a - 1.0)}'; then pass loss_falls "($first -> $last5)"
else fail loss_falls "first $first, mean of the last 5 $last5"; fi
if grep -q '"val_bpb"' "$D/a/metrics.jsonl" && grep -q '"elapsed_s"' "$D/a/metrics.jsonl" && grep -q '"expert_load":\[\[' "$D/a/metrics.jsonl" &&
   grep -q '"grad_norm"' "$D/a/metrics.jsonl" && grep -q '"aux_loss"' "$D/a/metrics.jsonl"; then pass metrics_fields
else fail metrics_fields "$(head -3 "$D/a/metrics.jsonl")"; fi
grep -q '^final: val_loss' "$D/a.log" && grep -q 'layer 1:' "$D/a.log" && pass prints_val_and_expert_load ||
  fail prints_val_and_expert_load "$(tail -5 "$D/a.log")"
# the checkpoint: 256-byte header + params, m, v as float32 (n from the header)
np=$(u64 "$D/a/ckpt.bin" 160)
if [ "$(head -c 4 "$D/a/ckpt.bin")" = UTCK ] && [ "$(u64 "$D/a/ckpt.bin" 136)" = 60 ] &&
   [ "$(wc -c < "$D/a/ckpt.bin")" = $((256 + 12 * np)) ]; then pass checkpoint_written
else fail checkpoint_written "step $(u64 "$D/a/ckpt.bin" 136), $np params, $(wc -c < "$D/a/ckpt.bin") bytes"; fi

# ---- stop at step 25, resume: the same losses and the same final weights ------
$TRAIN "${ARGS[@]}" --out "$D/b" --stop-at 25 > "$D/b.log" 2>&1
s=$?
if [ $s = 0 ] && [ "$(u64 "$D/b/ckpt.bin" 136)" = 25 ] && [ "$(train_losses "$D/b/metrics.jsonl" | wc -l)" = 25 ]
then pass stop_at_saves
else fail stop_at_saves "exit $s, step $(u64 "$D/b/ckpt.bin" 136)"; fi
if $TRAIN --resume "$D/b" --train "$D/train.bin" --val "$D/val.bin" --eval-every 20 --eval-batches 4 \
          --save-every 20 > "$D/b2.log" 2>&1; then pass resume_exits_0
else fail resume_exits_0 "$(tail -3 "$D/b2.log")"; fi
if [ "$(train_losses "$D/a/metrics.jsonl")" = "$(train_losses "$D/b/metrics.jsonl")" ]; then pass resume_losses_bit_identical
else fail resume_losses_bit_identical "$(diff <(train_losses "$D/a/metrics.jsonl") <(train_losses "$D/b/metrics.jsonl") | head -4)"; fi
cmp -s "$D/a/ckpt.bin" "$D/b/ckpt.bin" && pass resume_checkpoint_byte_identical ||
  fail resume_checkpoint_byte_identical "final checkpoints differ"
# 2 threads instead of 1: the work is split differently, the numbers are the same
$TRAIN "${ARGS[@]}" --out "$D/c" --threads 2 --stop-at 10 > /dev/null 2>&1
if [ "$(train_losses "$D/c/metrics.jsonl")" = "$(train_losses "$D/a/metrics.jsonl" | head -10)" ]; then
  pass same_losses_with_2_threads
else fail same_losses_with_2_threads "1 vs 2 threads differ"; fi
# a finished run resumed: nothing to do, nothing changed
cp "$D/a/ckpt.bin" "$D/a.bak"
$TRAIN --resume "$D/a" --train "$D/train.bin" > "$D/a3.log" 2>&1 && grep -q 'nothing to do' "$D/a3.log" &&
  cmp -s "$D/a/ckpt.bin" "$D/a.bak" && pass resume_finished_run || fail resume_finished_run "$(cat "$D/a3.log")"

# ---- sample: KV cache, prompt, more tokens than the context ------------------
if $TRAIN sample --resume "$D/a" --tokenizer "$D/tok" --prompt "the " --tokens 50 --seed 7 > "$D/s1" 2>"$D/serr" &&
   $TRAIN sample --resume "$D/a/ckpt.bin" --tokenizer "$D/tok" --prompt "the " --tokens 50 --seed 7 > "$D/s2" 2>>"$D/serr"; then
  pass sample_exits_0
else fail sample_exits_0 "$(head -2 "$D/serr")"; fi
# 50 tokens > --seq 16: the context slid at least twice; each token is >= 1 byte
[ "$(head -c 4 "$D/s1")" = "the " ] && [ "$(wc -c < "$D/s1")" -ge 54 ] && pass sample_prompt_and_length ||
  fail sample_prompt_and_length "$(head -c 80 "$D/s1")"
cmp -s "$D/s1" "$D/s2" && pass sample_same_seed_same_text || fail sample_same_seed_same_text "differ"
$TRAIN sample --resume "$D/a" --tokenizer "$D/tok" --tokens 50 --seed 8 > "$D/s3" 2>/dev/null
cmp -s "$D/s1" "$D/s3" && fail sample_other_seed_other_text "identical" || pass sample_other_seed_other_text
$TRAIN sample --resume "$D/a" --tokenizer "$D/tok" --tokens 20 --temperature 0 --samples 2 > "$D/s4" 2>/dev/null
[ "$(grep -c '^--- sample' "$D/s4")" = 2 ] && pass sample_greedy_two_samples || fail sample_greedy_two_samples "$(head -3 "$D/s4")"

# ---- a vocabulary of 8 (no byte 10, no newline): samples start from token 0 ---
# A token file written by hand: the 32-byte header (UTTK, version 1, vocab 8,
# 2 bytes per id, n_tokens, n_bytes), then 200 ids 0..7.
fmt='UTTK\001\000\000\000\010\000\000\000\002\000\000\000\310\000\000\000\000\000\000\000\310\000\000\000\000\000\000\000'
for i in $(seq 0 199); do fmt+="\\00$(( (i * 3 + i / 7) % 8 ))\\000"; done
printf "$fmt" > "$D/v8.bin"
V8=(--train "$D/v8.bin" --layers 1 --dim 16 --heads 2 --kv-heads 1 --ffn 16 --experts 1 --seq 16 --batch 2 --steps 10)
if $TRAIN "${V8[@]}" --sample-every 5 --sample-tokens 5 --out "$D/v8s" > "$D/v8.log" 2>&1 &&
   [ "$(grep -c '^--- sample at step' "$D/v8.log")" = 2 ] && [ "$(u64 "$D/v8s/ckpt.bin" 136)" = 10 ]; then
  pass vocab_8_samples_during_training
else fail vocab_8_samples_during_training "$(tail -2 "$D/v8.log")"; fi
# `train sample` from a run trained without samples: 5 tokens of a byte-level
# vocabulary are 5 bytes, then the newline
$TRAIN "${V8[@]}" --out "$D/v8" > /dev/null 2>&1
if $TRAIN sample --resume "$D/v8" --tokens 5 > "$D/v8.s" 2> "$D/v8.err" && [ "$(wc -c < "$D/v8.s")" = 6 ]; then
  pass vocab_8_sample_command
else fail vocab_8_sample_command "$(cat "$D/v8.err")"; fi

# ---- dry run: sizes, FLOPs, memory, time per step; writes nothing -------------
if $TRAIN "${ARGS[@]}" --out "$D/dry" --dry-run > "$D/dry.log" 2>&1 && grep -q '^parameters: .* total, .* active' "$D/dry.log" &&
   grep -q '^FLOPs per token' "$D/dry.log" && grep -q '^memory: ' "$D/dry.log" && grep -q '^time per step: ' "$D/dry.log" &&
   [ ! -e "$D/dry" ]; then pass dry_run
else fail dry_run "$(cat "$D/dry.log")"; fi
$TRAIN --help | grep -q -- '--kv-heads' && pass help || fail help "no --kv-heads in --help"
# the defaults --help shows are the header's (ut_config_default, ut_train_config_default): the make run model
$TRAIN --help > "$D/help.txt"
if grep -q 'defaults shown are the `make run` defaults' "$D/help.txt" && grep -q -- '--layers N .*\[4\]' "$D/help.txt" &&
   grep -q -- '--experts N .*\[4\]' "$D/help.txt" && grep -q -- '--steps N .*\[800\]' "$D/help.txt" &&
   grep -q -- '--lr X .*\[0.002\]' "$D/help.txt"; then pass help_defaults_are_make_run
else fail help_defaults_are_make_run "$(cat "$D/help.txt")"; fi

exit $failed
