#!/usr/bin/env bash
# test_finetune.sh — fine-tuning (issue #17): start a new run from an existing
# model, ours (--init-from RUN) or a Hugging Face folder (--init-from-hf DIR,
# ./train import --hf DIR --out RUN).
#   - a Hugging Face f32 export imported back gives bit-identical logits (the
#     probabilities of a greedy continuation, byte for byte), weights and
#     tokenizer file, dense and MoE; an f16 export loads and costs < 0.01 nats
#   - --init-from RUN and --init-from-hf (RUN's export) make the same run, bit
#     for bit; run.json records the base (path, size, checksum), also after
#     --resume; the fine-tuned model is better on the new text than the base
#   - LoRA (--init-from RUN --lora-rank r): OUT/adapter.bin only (small), the
#     base file untouched, resume bit-identical, better on the new text;
#     train merge gives the adapter run's loss (1e-4); the merged model
#     exported to GGUF gives our greedy tokens and probabilities in llama.cpp
#     (node-llama-cpp, through test/export_clients.mjs; SKIP without it)
#   - QLoRA (--lora-rank r --base-dtype int8|int4 --group G): the adapter
#     records the base's quantization, the base file is untouched, resume is
#     bit-identical, it learns the new text, train merge (into the f32 base,
#     with a note) stays near the QLoRA run's own loss; refusals (LoRA and
#     QLoRA on 2 ranks of train_mpi: test_mpi.sh)
#   - eval/sample --dtype int8|int4: the weights held quantized, products
#     from the integers; the validation-loss cost (int8 < 0.01, int4 < 0.2
#     nats/token here), the size, resident memory and tokens/s lines
#   - bad input: one error line, exit 1, nothing written
cd "$(dirname "$0")/.." || exit 1
source test/cli_lib.sh
HELPER=${1:-build/export_texts}   # the export test's helper: our chunks and ids of texts (test/export_texts.c)
cli_setup test_finetune
export OMP_NUM_THREADS=1

# ---- a base text and a "new" text, one tokenizer, two tiny base models --------
make_corpus "$D/text.txt" 1500
awk 'NR % 3 == 0 { print "Fortune: " $0 " -- and so it goes." }' "$D/text.txt" > "$D/new.txt"
$TOK train --input "$D/text.txt" --vocab-size 300 --output "$D/tok" >/dev/null 2>"$D/err" &&
$TOK train --input "$D/text.txt" --vocab-size 280 --output "$D/tok280" >/dev/null 2>>"$D/err" &&
$TOK encode --model "$D/tok" --input "$D/text.txt" --output "$D/train.bin" --val-fraction 0.1 \
            --val-output "$D/val.bin" >/dev/null 2>>"$D/err" &&
$TOK encode --model "$D/tok" --input "$D/new.txt" --output "$D/new.bin" --val-fraction 0.1 \
            --val-output "$D/newval.bin" >/dev/null 2>>"$D/err" &&
$TOK encode --model "$D/tok280" --input "$D/new.txt" --output "$D/new280.bin" >/dev/null 2>>"$D/err" ||
  { fail finetune_setup "$(head -3 "$D/err")"; exit 1; }
M=(--layers 2 --dim 32 --heads 4 --kv-heads 2 --ffn 48 --seq 32 --batch 4 --steps 40 --eval-every 20 --eval-batches 2)
for m in dense moe; do
  if [ $m = dense ]; then arch=(--experts 1); else arch=(--experts 4 --top-k 2); fi
  $TRAIN --train "$D/train.bin" --val "$D/val.bin" --tokenizer "$D/tok" "${M[@]}" "${arch[@]}" --out "$D/$m" \
    > "$D/$m.log" 2>&1 || { fail finetune_setup "train $m: $(tail -2 "$D/$m.log")"; exit 1; }
done

# ---- import of our own export: bit-identical -------------------------------------
# params of a checkpoint: the bytes after the 256-byte header, 4 per weight
n_params() { u64 "$1" 160; }
weights() { tail -c +257 "$1" | head -c $((4 * $(n_params "$1"))); }
greedy() { $TRAIN sample --resume "$1" --temperature 0 --tokens 48 --prompt "the king" --probs "$2"; }
for m in dense moe; do
  $TRAIN export --resume "$D/$m" --format hf --out "$D/$m.hf" > "$D/exp.log" 2>&1 &&
  $TRAIN import --hf "$D/$m.hf" --out "$D/$m.imp" > "$D/imp.log" 2>&1 ||
    { fail "hf_import_$m" "$(tail -2 "$D/exp.log" "$D/imp.log")"; continue; }
  greedy "$D/$m" "$D/$m.p.orig" > "$D/$m.s.orig" 2>/dev/null
  greedy "$D/$m.imp" "$D/$m.p.imp" > "$D/$m.s.imp" 2>/dev/null
  if [ -s "$D/$m.p.orig" ] && cmp -s "$D/$m.p.orig" "$D/$m.p.imp" && cmp -s "$D/$m.s.orig" "$D/$m.s.imp" &&
     cmp -s <(weights "$D/$m/ckpt.bin") <(weights "$D/$m.imp/ckpt.bin") && cmp -s "$D/tok" "$D/$m.imp/tokenizer.tok"; then
    pass "hf_import_bit_identical_$m" "(48 greedy tokens' probabilities, $(n_params "$D/$m/ckpt.bin") weights, tokenizer file)"
  else fail "hf_import_bit_identical_$m" "imported model or tokenizer differs from the original"; fi
done
# f16: loads, and costs what f16 rounding costs
$TRAIN export --resume "$D/dense" --format hf --dtype f16 --out "$D/f16.hf" > /dev/null 2>&1 &&
$TRAIN import --hf "$D/f16.hf" --out "$D/f16.imp" > /dev/null 2>&1 &&
a=$($TRAIN eval --resume "$D/dense" --val "$D/val.bin" 2>/dev/null | sed -n 's/.*val_loss \([0-9.]*\).*/\1/p') &&
b=$($TRAIN eval --resume "$D/f16.imp" --val "$D/val.bin" 2>/dev/null | sed -n 's/.*val_loss \([0-9.]*\).*/\1/p') &&
[ -n "$a" ] && awk -v a="$a" -v b="$b" 'BEGIN {d = a - b; exit !(d < 0.01 && d > -0.01)}' &&
  pass hf_import_f16 "(val_loss f32 $a, imported f16 $b)" || fail hf_import_f16 "val_loss $a vs $b"

# ---- fine-tuning: from a run and from its export, the same run ------------------
FT=(--train "$D/new.bin" --val "$D/newval.bin" --steps 30 --lr 1e-3 --warmup 3 --eval-every 15 --eval-batches 2 --batch 4)
$TRAIN --init-from "$D/dense" "${FT[@]}" --out "$D/ft" > "$D/ft.log" 2>&1 &&
$TRAIN --init-from-hf "$D/dense.hf" --tokenizer "$D/tok" "${FT[@]}" --out "$D/fthf" > "$D/fthf.log" 2>&1 ||
  fail finetune_runs "$(tail -2 "$D/ft.log" "$D/fthf.log")"
cmp -s "$D/ft/ckpt.bin" "$D/fthf/ckpt.bin" && cmp -s <(train_losses "$D/ft/metrics.jsonl") <(train_losses "$D/fthf/metrics.jsonl") &&
  pass finetune_run_equals_hf_run "(30 steps: same losses, same checkpoint)" || fail finetune_run_equals_hf_run "the two runs differ"
size=$(stat -c %s "$D/dense/ckpt.bin")
grep -q "\"init_from\": {\"path\": \"$(cd "$D" && pwd -P)/dense/ckpt.bin\", \"bytes\": $size, \"fnv1a64\": \"[0-9a-f]\{16\}\"}" "$D/ft/run.json" &&
  grep -q "\"init_from\": {\"path\": \".*/dense.hf/model.safetensors\"" "$D/fthf/run.json" &&
  pass finetune_records_base "(run.json init_from: path, bytes, fnv1a64)" || fail finetune_records_base "$(grep init_from "$D/ft/run.json")"
# the step counter starts at 0 and the schedule is the new run's (30 steps), not the base's
grep -q '^fine-tune: L=2 D=32.* 30 steps, lr 0.001' "$D/ft.log" && grep -q 'saved .*ckpt.bin (step 30,' "$D/ft.log" &&
  pass finetune_new_run "(step 0 to 30, its own schedule)" || fail finetune_new_run "$(grep -E '^fine-tune|saved' "$D/ft.log")"
$TRAIN --resume "$D/ft" --steps 35 > "$D/ftr.log" 2>&1 && grep -q '"init_from": {"path": ".*/dense/ckpt.bin"' "$D/ft/run.json" &&
  pass finetune_resume_keeps_base || fail finetune_resume_keeps_base "$(tail -2 "$D/ftr.log")"
base=$($TRAIN eval --resume "$D/dense" --val "$D/newval.bin" 2>/dev/null | sed -n 's/.*val_loss \([0-9.]*\).*/\1/p')
tuned=$($TRAIN eval --resume "$D/fthf" --val "$D/newval.bin" 2>/dev/null | sed -n 's/.*val_loss \([0-9.]*\).*/\1/p')
[ -n "$base" ] && [ -n "$tuned" ] && awk -v a="$base" -v b="$tuned" 'BEGIN {exit !(b < a - 0.1)}' &&
  pass finetune_learns_new_text "(val_loss on the new text: base $base, fine-tuned $tuned)" ||
  fail finetune_learns_new_text "base $base, fine-tuned $tuned"

# ---- LoRA: adapter runs, resume, merge, export to llama.cpp ---------------------
LO=(--init-from "$D/dense" --lora-rank 4 --lora-alpha 8 --lora-targets q,k,v,o,gate,up,down "${FT[@]}")
base_sum=$(cksum < "$D/dense/ckpt.bin")
$TRAIN "${LO[@]}" --out "$D/lora" > "$D/lora.log" 2>&1 &&
$TRAIN "${LO[@]}" --out "$D/lora2" --stop-at 12 > "$D/lora2.log" 2>&1 &&
$TRAIN --resume "$D/lora2" > "$D/lora2r.log" 2>&1 || fail lora_runs "$(tail -2 "$D/lora.log" "$D/lora2.log" "$D/lora2r.log")"
n=$(u64 "$D/lora/adapter.bin" 160); size=$(stat -c %s "$D/lora/adapter.bin")
[ ! -e "$D/lora/ckpt.bin" ] && [ "$size" = $((4352 + 12 * n)) ] && [ "$size" -lt $(($(stat -c %s "$D/dense/ckpt.bin") / 4)) ] &&
  grep -q "^lora: rank 4, alpha 8, targets q,k,v,o,gate,up,down: $n trainable numbers" "$D/lora.log" &&
  pass lora_adapter_only "(OUT/adapter.bin: $n numbers + AdamW state, $size bytes; the base checkpoint: $(stat -c %s "$D/dense/ckpt.bin"))" ||
  fail lora_adapter_only "size $size for $n numbers; $(grep '^lora' "$D/lora.log")"
[ "$(cksum < "$D/dense/ckpt.bin")" = "$base_sum" ] && pass lora_base_file_untouched || fail lora_base_file_untouched
cmp -s "$D/lora/adapter.bin" "$D/lora2/adapter.bin" && cmp -s <(train_losses "$D/lora/metrics.jsonl") <(train_losses "$D/lora2/metrics.jsonl") &&
  pass lora_resume_bit_identical "(30 steps straight = 12 + --resume 18: same losses, same adapter.bin)" ||
  fail lora_resume_bit_identical "the resumed LoRA run differs"
tuned=$($TRAIN eval --resume "$D/lora" --val "$D/newval.bin" 2>/dev/null | sed -n 's/.*val_loss \([0-9.]*\).*/\1/p')
[ -n "$tuned" ] && awk -v a="$base" -v b="$tuned" 'BEGIN {exit !(b < a - 0.02)}' &&
  pass lora_learns_new_text "(val_loss on the new text: base $base, LoRA r=4 $tuned)" || fail lora_learns_new_text "base $base, LoRA $tuned"
# merge: an ordinary checkpoint; its loss is the adapter run's own final evaluation (unmerged, in training)
$TRAIN merge --adapter "$D/lora" --out "$D/merged" > "$D/merge.log" 2>&1 || fail lora_merge "$(cat "$D/merge.log")"
during=$(grep -o '"val_loss":[0-9.]*' "$D/lora/metrics.jsonl" | tail -1 | cut -d: -f2)
merged=$($TRAIN eval --resume "$D/merged" --val "$D/newval.bin" --eval-tokens 0 2>/dev/null | sed -n 's/.*val_loss \([0-9.]*\).*/\1/p')
[ -n "$during" ] && [ -n "$merged" ] && awk -v a="$during" -v b="$merged" 'BEGIN {d = a - b; exit !(d < 1e-4 && d > -1e-4)}' &&
  pass lora_merge_equivalent "(val_loss unmerged, at the end of training, $during; merged checkpoint $merged; tolerance 1e-4)" ||
  fail lora_merge_equivalent "unmerged $during, merged $merged"
# fine-tune -> merge -> export GGUF -> llama.cpp: its greedy tokens and probabilities are ours
if [ -n "$UT_SANITIZED" ]; then
  sanitized_note "llama.cpp reading the merged model's export"
elif ! command -v node >/dev/null || [ ! -d test/node_modules/node-llama-cpp ] || [ ! -x "$HELPER" ]; then
  echo "SKIP lora_merged_in_llama_cpp (skipped: needs node, test/node_modules (cd test && npm ci --ignore-scripts --omit=optional) and $HELPER)"
else
  $TRAIN export --resume "$D/merged" --format gguf --out "$D/merged.gguf" > /dev/null 2>&1 &&
  $TRAIN export --resume "$D/merged" --format hf --out "$D/merged.hf" > /dev/null 2>&1 || fail lora_export "export failed"
  prompts=""
  for i in 0 1; do
    p=$([ $i = 0 ] && echo "the king" || echo "a lady")
    printf '%s' "$p" > "$D/lp$i.txt"
    $TRAIN sample --resume "$D/merged" --temperature 0 --tokens 12 --prompt "$p" --probs "$D/lp$i.probs" > "$D/lp$i.out" 2>/dev/null
    prompts+="${prompts:+,}{\"file\": \"$D/lp$i.txt\", \"out\": \"$D/lp$i.out\", \"probs\": \"$D/lp$i.probs\"}"
  done
  node test/export_clients.mjs texts "$D/texts" 20
  "$HELPER" "$D/tok" "$D"/texts/*.txt > "$D/dump.txt" || fail lora_export_texts "the helper failed"
  texts=$(ls "$D"/texts/*.txt | sed 's/.*/"&"/' | paste -sd, -)
  printf '{"texts": [%s], "dump": "%s", "models": [{"name": "lora_merged", "vocab": 301, "ctx": 32, "hf": "%s", "gguf": {"f32": "%s"}, "prompts": [%s]}]}\n' \
    "$texts" "$D/dump.txt" "$D/merged.hf" "$D/merged.gguf" "$prompts" > "$D/job.json"
  node test/export_clients.mjs check "$D/job.json" > "$D/clients.out"; [ $? = 0 ] || failed=1
  grep -v "^PASS pretok_regex" "$D/clients.out"
fi

# ---- QLoRA: the same adapter on a quantized frozen base (--base-dtype) ----------
# Under `make test-asan` only int4 (the int8 run is the same code with another Q).
QD=(int8 int4); [ -n "$UT_SANITIZED" ] && { QD=(int4); sanitized_note "the QLoRA int8 run"; }
for d in "${QD[@]}"; do
  $TRAIN "${LO[@]}" --base-dtype $d --group 16 --out "$D/q$d" > "$D/q$d.log" 2>&1 || fail "qlora_run_$d" "$(tail -2 "$D/q$d.log")"
  bits=${d#int}
  [ "$(u32 "$D/q$d/adapter.bin" 208)" = "$bits" ] && [ "$(u32 "$D/q$d/adapter.bin" 212)" = 16 ] &&
    grep -q "^qlora: base matrices $d (group 16): .* MB as stored" "$D/q$d.log" && [ ! -e "$D/q$d/ckpt.bin" ] &&
    pass "qlora_adapter_records_base_$d" "(adapter.bin bytes 208, 212: $bits bits, group 16; $(grep '^qlora' "$D/q$d.log" | cut -c8-90))" ||
    fail "qlora_adapter_records_base_$d" "$(u32 "$D/q$d/adapter.bin" 208) $(u32 "$D/q$d/adapter.bin" 212) $(grep -E '^qlora|error' "$D/q$d.log")"
done
[ "$(cksum < "$D/dense/ckpt.bin")" = "$base_sum" ] && pass qlora_base_file_untouched || fail qlora_base_file_untouched
# --dry-run counts what a LoRA run holds: a frozen base (int4 matrices with
# --base-dtype), no base gradient or AdamW state; less than LoRA on the f32
# base, less than full fine-tuning
$TRAIN "${LO[@]}" --dry-run --out "$D/ldry" > "$D/ldry.log" 2>&1
$TRAIN "${LO[@]}" --base-dtype int4 --group 16 --dry-run --out "$D/qdry" > "$D/qdry.log" 2>&1
mem() { sed -n 's/^memory: *\([0-9.]*\) MB.*/\1/p' "$1"; }
full=$(sed -n 's/.*(full fine-tuning of the same model: \([0-9.]*\) MB)/\1/p' "$D/qdry.log")
[ -n "$(mem "$D/ldry.log")" ] && [ -n "$(mem "$D/qdry.log")" ] && [ -n "$full" ] &&
  grep -q "^memory: .* = frozen base [0-9.]* + adapter" "$D/ldry.log" &&
  grep -q "^memory: .* = frozen base [0-9.]* (int4 matrices [0-9.]* + f32" "$D/qdry.log" &&
  awk -v q="$(mem "$D/qdry.log")" -v l="$(mem "$D/ldry.log")" -v f="$full" 'BEGIN {exit !(q < l && l < f)}' &&
  pass lora_dry_run_memory "(QLoRA int4 $(mem "$D/qdry.log") MB < LoRA $(mem "$D/ldry.log") MB < full fine-tuning $full MB)" ||
  fail lora_dry_run_memory "$(grep memory "$D/ldry.log" "$D/qdry.log")"
# resume: 12 steps, then --resume to 30 (the base is quantized again from the f32 file: the same integers)
$TRAIN "${LO[@]}" --base-dtype int4 --group 16 --out "$D/qint4b" --stop-at 12 > "$D/qb.log" 2>&1 &&
$TRAIN --resume "$D/qint4b" > "$D/qbr.log" 2>&1 || fail qlora_resume_runs "$(tail -2 "$D/qb.log" "$D/qbr.log")"
cmp -s "$D/qint4/adapter.bin" "$D/qint4b/adapter.bin" && cmp -s <(train_losses "$D/qint4/metrics.jsonl") <(train_losses "$D/qint4b/metrics.jsonl") &&
  pass qlora_resume_bit_identical "(int4 base: 30 steps straight = 12 + --resume 18: same losses, same adapter.bin)" ||
  fail qlora_resume_bit_identical "the resumed QLoRA run differs"
# it learns; eval and merge use the f32 base (a note says so); the merged
# model's loss stays within the rounding cost of the base (int8 0.01, int4 0.1
# nats/token) of the QLoRA run's own final evaluation
for d in "${QD[@]}"; do
  during=$(grep -o '"val_loss":[0-9.]*' "$D/q$d/metrics.jsonl" | tail -1 | cut -d: -f2)
  $TRAIN merge --adapter "$D/q$d" --out "$D/q$d.m" > "$D/qm.log" 2> "$D/qm.err" || fail "qlora_merge_$d" "$(cat "$D/qm.err")"
  merged=$($TRAIN eval --resume "$D/q$d.m" --val "$D/newval.bin" --eval-tokens 0 2>/dev/null | sed -n 's/.*val_loss \([0-9.]*\).*/\1/p')
  bound=$([ $d = int8 ] && echo 0.01 || echo 0.1)
  [ -n "$during" ] && [ -n "$merged" ] && grep -q "^train: note: merge: .* was trained against the $d (group 16) base (QLoRA); it is merged into the f32 base" "$D/qm.err" &&
    awk -v a="$during" -v b="$merged" -v base="$base" -v t="$bound" 'BEGIN {d = a - b; exit !(d < t && d > -t && a < base - 0.02)}' &&
    pass "qlora_learns_and_merges_$d" "(val_loss on the new text: base $base, QLoRA in training $during, merged into f32 $merged; tolerance $bound)" ||
    fail "qlora_learns_and_merges_$d" "base $base, QLoRA $during, merged $merged; $(cat "$D/qm.err")"
done
# LoRA and QLoRA on several ranks (./train_mpi): test_mpi.sh, mpi_lora_*

# ---- quantized inference: eval and sample with int8 / int4 weights -------------
for d in int8 int4; do
  line=$($TRAIN eval --resume "$D/dense" --val "$D/val.bin" --dtype $d --group 32 2>&1 | grep "^eval: $d weights")
  cost=$(echo "$line" | sed -n 's/.*(\([-+][0-9.]*\) nats\/token).*/\1/p')
  bound=$([ $d = int8 ] && echo 0.01 || echo 0.2)
  [ -n "$cost" ] && awk -v c="$cost" -v b="$bound" 'BEGIN {exit !(c < b && c > -b)}' &&
    pass "quantized_eval_$d" "(${line#eval: }; bound $bound)" || fail "quantized_eval_$d" "${line:-no $d line}"
  $TRAIN sample --resume "$D/dense" --dtype $d --tokens 20 --temperature 0 > "$D/qs.out" 2> "$D/qs.err" &&
    grep -q "^sample: $d weights (group 32): .* tokens/s" "$D/qs.err" && [ -s "$D/qs.out" ] &&
    pass "quantized_sample_$d" "($(cut -d: -f2- < "$D/qs.err" | cut -c1-120))" || fail "quantized_sample_$d" "$(cat "$D/qs.err")"
done

# ---- bad input ------------------------------------------------------------------
# expect_error NAME 'message part' OUT ARGS...: exit 1, one stderr line
# "train: error: ..." holding the message part, and OUT not created.
expect_error() {
  local name=$1 want=$2 out=$3; shift 3
  "$TRAIN" "$@" > "$D/out" 2> "$D/err"
  local s=$? n; n=$(wc -l < "$D/err")
  if [ $s = 1 ] && [ "$n" = 1 ] && grep -q '^train: error: ' "$D/err" && grep -qF -- "$want" "$D/err" && [ ! -e "$out" ]; then
    pass "$name"
  else fail "$name" "exit $s, $n stderr lines: $(head -c 300 "$D/err")"; fi
}
expect_error err_init_shape_flag "--layers: the model's shape comes from --init-from" "$D/x" \
  --init-from "$D/dense" "${FT[@]}" --layers 3 --out "$D/x"
expect_error err_init_and_resume "give one of them" "$D/x" --init-from "$D/dense" --resume "$D/ft" --out "$D/x"
expect_error err_init_vocab "encode the new text with the base model's tokenizer" "$D/x" \
  --init-from "$D/dense" --train "$D/new280.bin" --out "$D/x"
expect_error err_init_tokenizer "is not the base run's tokenizer" "$D/x" \
  --init-from "$D/dense" "${FT[@]}" --tokenizer "$D/tok280" --out "$D/x"
expect_error err_init_seq "longer than the base model's context of 32" "$D/x" --init-from "$D/dense" "${FT[@]}" --seq 64 --out "$D/x"
expect_error err_hf_tokenizer "is not the tokenizer of" "$D/x" --init-from-hf "$D/dense.hf" "${FT[@]}" --tokenizer "$D/tok280" --out "$D/x"
expect_error err_quant_dtype "--dtype: 'int2' is not one of f32, int8, int4" "$D/x" eval --resume "$D/dense" --dtype int2
expect_error err_lora_no_base "--lora-rank needs --init-from" "$D/x" "${FT[@]}" --lora-rank 4 --out "$D/x"
expect_error err_lora_moe_mlp "adapts q, k, v and o only" "$D/x" --init-from "$D/moe" "${FT[@]}" --lora-rank 4 --lora-targets q,gate --out "$D/x"
expect_error err_lora_target "'ffn' is not one of q, k, v, o, gate, up, down" "$D/x" --init-from "$D/dense" "${FT[@]}" --lora-rank 4 --lora-targets q,ffn --out "$D/x"
expect_error err_lora_into_full_run "/ckpt.bin already exists: choose another --out" "$D/x" --init-from "$D/dense" "${FT[@]}" --lora-rank 4 --out "$D/ft"
expect_error err_lora_resume_flags "are the adapter's" "$D/x" --resume "$D/lora" --lora-rank 8 --out "$D/x"
expect_error err_lora_base_changed "is not the base the adapter" "$D/x" merge --adapter "$D/lora" --base "$D/ft" --out "$D/x"
expect_error err_qlora_needs_lora "quantize the frozen base of a LoRA run (QLoRA): give --lora-rank R too" "$D/x" \
  --init-from "$D/dense" "${FT[@]}" --base-dtype int8 --out "$D/x"
expect_error err_qlora_group_needs_lora "give --lora-rank R too" "$D/x" --init-from "$D/dense" "${FT[@]}" --group 16 --out "$D/x"
expect_error err_qlora_dtype "--base-dtype: 'int3' is not one of f32, int8, int4" "$D/x" "${LO[@]}" --base-dtype int3 --out "$D/x"
expect_error err_qlora_resume_flags "--base-dtype and --group are the adapter's" "$D/x" --resume "$D/qint4" --base-dtype int8 --out "$D/x"
expect_error err_qlora_not_lora_run "is not a LoRA run" "$D/x" --resume "$D/ft" --base-dtype int8 --out "$D/x"
# damaged folders: a copy of the export with one thing changed
bad() { rm -rf "$D/bad"; cp -r "$D/dense.hf" "$D/bad"; }
st_edit() {   # st_edit FROM TO: replace a string of the same length in the safetensors header
  python3 - "$D/bad/model.safetensors" "$1" "$2" <<'PY' 2>/dev/null
import sys
p, a, b = sys.argv[1], sys.argv[2].encode(), sys.argv[3].encode()
d = bytearray(open(p, 'rb').read()); n = int.from_bytes(d[:8], 'little')
h = bytes(d[8:8 + n]); i = h.find(a); assert i >= 0 and len(a) == len(b)
d[8 + i:8 + i + len(a)] = b; open(p, 'wb').write(d)
PY
}
imp_err() { expect_error "$1" "$2" "$D/x" import --hf "$D/bad" --out "$D/x"; }
bad; sed -i 's/LlamaForCausalLM/GPT2LMHeadModel/' "$D/bad/config.json"; imp_err err_hf_architecture "architecture 'GPT2LMHeadModel' cannot be loaded"
bad; sed -i 's/"rope_scaling": null/"rope_scaling": {"type": "linear", "factor": 2.0}/' "$D/bad/config.json"; imp_err err_hf_rope_scaling "rope_scaling is set"
bad; sed -i 's/"num_hidden_layers": 2/"num_hidden_layers": 3/' "$D/bad/config.json"; imp_err err_hf_missing_tensor "has no tensor model.layers.2.input_layernorm.weight"
bad; sed -i 's/"hidden_size": 32/"hidden_size": 36/' "$D/bad/config.json"; imp_err err_hf_shape "model.embed_tokens.weight has shape [301, ...]"
bad; sed -i 's/"num_hidden_layers": 2/"num_hidden_layers": 1/' "$D/bad/config.json"; imp_err err_hf_extra_tensor "unexpected tensor model.layers.1."
bad; echo '{}' > "$D/bad/model.safetensors.index.json"; imp_err err_hf_sharded "a sharded checkpoint"
bad; rm "$D/bad/tokenizer.json"; imp_err err_hf_no_tokenizer "tokenizer.json"
bad; sed -i 's/"vocab_size": 301/"vocab_size": 302/' "$D/bad/config.json"; imp_err err_hf_vocab "tokenizer.json has 301 tokens but config.json's vocab_size is 302"
if python3 -c 'pass' 2>/dev/null; then
  bad; st_edit '"F32"' '"I32"' && imp_err err_hf_dtype "has dtype 'I32'; F32, F16 and BF16 can be loaded"
  bad; st_edit 'q_proj' 'x_proj' && imp_err err_hf_renamed_tensor "has no tensor model.layers.0.self_attn.q_proj.weight"
else echo "SKIP err_hf_dtype no python3 to edit a safetensors header"; fi
mkdir -p "$D/x2" && cp "$D/dense.imp/ckpt.bin" "$D/x2/" && before=$(cksum < "$D/x2/ckpt.bin")
$TRAIN import --hf "$D/moe.hf" --out "$D/x2" > /dev/null 2> "$D/err"
[ $? = 1 ] && grep -q 'already exists: --force replaces it' "$D/err" && [ "$(cksum < "$D/x2/ckpt.bin")" = "$before" ] &&
  pass err_import_exists || fail err_import_exists "$(cat "$D/err")"
exit $failed
