#!/usr/bin/env bash
# test_export.sh HELPER — `train export` (issue #15), checked by the clients
# that will read the files: llama.cpp through node-llama-cpp, Hugging Face
# tokenizers (both in test/export_clients.mjs), and PyTorch reading the
# safetensors with its own reader (test/torch_ref.py --hf). HELPER is
# build/export_texts (test/export_texts.c). A missing client prints SKIP.
#
# On a made-up corpus with UTF-8 text, contractions and blank lines it trains
# a tokenizer and two tiny models (dense; MoE with 4 experts, top-2), exports
# each as GGUF f32, f16 and q8_0 and as a Hugging Face folder, and checks:
#   - the exports' contents (keys, tensor count, files), the quantisation cost
#   - 200 random texts: GPT-2's regex, llama.cpp and HF tokenizers all cut
#     and encode them as we do (export_clients.mjs)
#   - greedy continuations and probabilities (export_clients.mjs), the
#     safetensors logits (torch_ref.py --hf)
#   - bad input: one error line, exit 1, nothing written
cd "$(dirname "$0")/.." || exit 1
source test/cli_lib.sh
HELPER=${1:-build/export_texts}
cli_setup test_export
export OMP_NUM_THREADS=1
[ -x "$HELPER" ] || { fail export_helper "$HELPER is not built"; exit 1; }

# ---- a corpus, a tokenizer, two models ---------------------------------------
make_corpus "$D/text.txt" 2500
for i in 1 2 3 4 5 6 7 8; do
  printf "KING:\nI know'st thou'rt a café owner's son; we'll see. Привет, мир! 日本語のテキスト 42.\n\n"
  printf "QUEEN:\nDon't they've naïve façades? Ελληνικά — 3,14 ½ and I'm done.\n\n\n"
done >> "$D/text.txt"
$TOK train --input "$D/text.txt" --vocab-size 420 --output "$D/tok" >/dev/null 2>"$D/err" &&
$TOK encode --model "$D/tok" --input "$D/text.txt" --output "$D/train.bin" --val-fraction 0.1 \
            --val-output "$D/val.bin" >/dev/null 2>>"$D/err" || { fail export_setup "$(head -3 "$D/err")"; exit 1; }
# The sanitizer build leaves out the clients, which need a trained model (near-ties
# in an untrained one would make greedy agreement a coin toss); what it checks, the
# files and the refusals, does not depend on training, so 20 steps do.
STEPS=(--steps 120 --warmup 10 --eval-every 60)
[ -n "$UT_SANITIZED" ] && STEPS=(--steps 20 --warmup 2 --eval-every 10)
COMMON=(--train "$D/train.bin" --val "$D/val.bin" --tokenizer "$D/tok" --layers 2 --dim 64 --heads 4 --kv-heads 2
        --ffn 96 --seq 64 --batch 8 "${STEPS[@]}" --lr 3e-3 --eval-batches 4)
for m in dense moe; do
  if [ $m = dense ]; then arch=(--experts 1); else arch=(--experts 4 --top-k 2); fi
  $TRAIN "${COMMON[@]}" "${arch[@]}" --out "$D/$m" > "$D/$m.log" 2>&1 || { fail export_setup "train $m: $(tail -2 "$D/$m.log")"; exit 1; }
done

# ---- the exports ---------------------------------------------------------------
for m in dense moe; do
  ok=1
  for t in f32 f16 q8_0; do
    $TRAIN export --resume "$D/$m" --format gguf --out "$D/$m.$t.gguf" --dtype $t > "$D/exp.$m.$t.log" 2>&1 || ok=0
  done
  $TRAIN export --resume "$D/$m" --format hf --out "$D/$m.hf" > "$D/exp.$m.hf.log" 2>&1 || ok=0
  [ $ok = 1 ] && pass "export_runs_$m" "(gguf f32/f16/q8_0, hf)" || fail "export_runs_$m" "$(cat "$D"/exp.$m.*.log | tail -3)"
  # GGUF header: magic, version 3, tensor count (dense: 3 + 9 per layer; MoE: 3 + 10 per layer; untied head)
  want=$([ $m = dense ] && echo 21 || echo 23)
  magic=$(head -c 4 "$D/$m.f32.gguf")
  [ "$magic" = GGUF ] && [ "$(u32 "$D/$m.f32.gguf" 4)" = 3 ] && [ "$(u64 "$D/$m.f32.gguf" 8)" = "$want" ] &&
    pass "gguf_header_$m" "(GGUF v3, $want tensors)" ||
    fail "gguf_header_$m" "magic=$magic version=$(u32 "$D/$m.f32.gguf" 4) tensors=$(u64 "$D/$m.f32.gguf" 8), want $want"
  for k in general.architecture llama.context_length llama.rope.freq_base tokenizer.ggml.merges tokenizer.ggml.pre; do
    grep -qa "$k" "$D/$m.f32.gguf" || { fail "gguf_keys_$m" "no $k"; k=; break; }
  done
  [ -n "$k" ] && pass "gguf_keys_$m"
  if [ $m = moe ]; then
    grep -qa llama.expert_count "$D/moe.f32.gguf" && grep -qa llama.expert_used_count "$D/moe.f32.gguf" &&
      grep -qa blk.1.ffn_gate_exps.weight "$D/moe.f32.gguf" && pass gguf_moe_keys || fail gguf_moe_keys "no expert keys/tensors"
  fi
  files=$(cd "$D/$m.hf" && ls | tr '\n' ' ')
  [ "$files" = "README.md config.json generation_config.json model.safetensors tokenizer.json tokenizer_config.json " ] &&
    pass "hf_files_$m" || fail "hf_files_$m" "$files"
  arch=$([ $m = dense ] && echo LlamaForCausalLM || echo MixtralForCausalLM)
  grep -q "\"$arch\"" "$D/$m.hf/config.json" && grep -q '"num_key_value_heads": 2' "$D/$m.hf/config.json" &&
    pass "hf_config_$m" "($arch)" || fail "hf_config_$m" "$(head -5 "$D/$m.hf/config.json")"
  grep -q 'validation loss | [0-9.]* nats/token' "$D/$m.hf/README.md" && grep -q 'tokens seen | [1-9]' "$D/$m.hf/README.md" &&
    pass "hf_model_card_$m" || fail "hf_model_card_$m" "no loss or tokens in README.md"
  for t in f16 q8_0; do   # the quantisation cost, measured on the run's validation file
    line=$(grep 'quantisation cost' "$D/exp.$m.$t.log")
    cost=$(echo "$line" | sed -n 's/.*(\([-+][0-9.]*\) nats\/token.*/\1/p')
    if [ -n "$cost" ] && awk -v c="$cost" 'BEGIN {exit !(c < 0.01 && c > -0.01)}'; then
      pass "quantisation_cost_${m}_$t" "(${line#export: })"
    else fail "quantisation_cost_${m}_$t" "${line:-no quantisation cost line}"; fi
  done
done
# sizes: f16 about half of f32, q8_0 about a quarter (+ the f32 norms and router)
s32=$(stat -c %s "$D/dense.f32.gguf"); s16=$(stat -c %s "$D/dense.f16.gguf"); s8=$(stat -c %s "$D/dense.q8_0.gguf")
awk -v a="$s32" -v b="$s16" -v c="$s8" 'BEGIN {exit !(b < 0.6 * a && c < 0.35 * a)}' &&
  pass gguf_sizes "(dense: f32 $s32, f16 $s16, q8_0 $s8 bytes)" || fail gguf_sizes "f32 $s32, f16 $s16, q8_0 $s8"

# ---- the clients -----------------------------------------------------------------
PROMPTS=("the king speaks" $'good lord, the crown.\n\nQueen:' "Привет, мир! I know'st")
job_models=""
for m in dense moe; do
  prompts=""
  for i in 0 1 2; do
    p=${PROMPTS[$i]}
    printf '%s' "$p" > "$D/p$i.txt"
    $TRAIN sample --resume "$D/$m" --temperature 0 --tokens 32 --prompt "$p" --probs "$D/$m.p$i.probs" \
      > "$D/$m.p$i.out" 2>"$D/err" || { fail "sample_$m" "$(cat "$D/err")"; continue; }
    prompts+="${prompts:+,}{\"file\": \"$D/p$i.txt\", \"out\": \"$D/$m.p$i.out\", \"probs\": \"$D/$m.p$i.probs\"}"
  done
  job_models+="${job_models:+,}{\"name\": \"$m\", \"vocab\": 421, \"ctx\": 64, \"hf\": \"$D/$m.hf\",
    \"gguf\": {\"f32\": \"$D/$m.f32.gguf\", \"f16\": \"$D/$m.f16.gguf\", \"q8_0\": \"$D/$m.q8_0.gguf\"},
    \"prompts\": [$prompts]}"
done

if [ -n "$UT_SANITIZED" ]; then
  sanitized_note "llama.cpp, Hugging Face tokenizers and PyTorch reading the exports"
elif ! command -v node >/dev/null; then
  echo "SKIP export_clients (skipped: node is not installed; apt-get install nodejs npm, then cd test && npm ci --ignore-scripts)"
else
  node test/export_clients.mjs texts "$D/texts" 200
  "$HELPER" "$D/tok" "$D"/texts/*.txt > "$D/dump.txt" || fail export_texts "the helper failed"
  texts=$(ls "$D"/texts/*.txt | sed 's/.*/"&"/' | paste -sd, -)
  printf '{"texts": [%s], "dump": "%s", "models": [%s]}\n' "$texts" "$D/dump.txt" "$job_models" > "$D/job.json"
  node test/export_clients.mjs check "$D/job.json" || failed=1
fi

# the safetensors, read by PyTorch with its own reader, give our probabilities
if [ -n "$UT_SANITIZED" ]; then :
elif /usr/bin/python3 -c 'import torch' >/dev/null 2>&1; then
  for m in dense moe; do
    "$TOK" encode --model "$D/tok" --input "$D/p1.txt" --output "$D/p1.bin" >/dev/null 2>&1
    /usr/bin/python3 test/torch_ref.py --hf "$D/$m.hf" --prompt "$D/p1.bin" --probs "$D/$m.p1.probs" --name "safetensors_$m" || failed=1
  done
else
  echo "SKIP safetensors_torch (skipped: python3-torch not installed)"
fi

# ---- bad input: one error line, exit 1, nothing written -----------------------------
# expect_refusal NAME OUT ARGS...: train export ARGS must fail with one
# "train: error:" line and leave OUT (and any OUT.tmp.*) absent
expect_refusal() {
  local name=$1 out=$2; shift 2
  $TRAIN export "$@" > "$D/o" 2> "$D/e"; local rc=$?
  local n; n=$(wc -l < "$D/e")
  if [ $rc = 1 ] && [ "$n" = 1 ] && grep -q '^train: error: ' "$D/e" && [ ! -e "$out" ] &&
     [ -z "$(ls -d "$out".tmp.* 2>/dev/null)" ]; then pass "$name" "($(cut -c1-110 < "$D/e"))"
  else fail "$name" "rc=$rc, $n stderr lines: $(head -c 300 "$D/e"); out exists: $([ -e "$out" ] && echo yes || echo no)"; fi
}
expect_refusal export_err_missing_ckpt "$D/x.gguf" --resume "$D/nope" --format gguf --out "$D/x.gguf"
head -c 3000 "$D/dense/ckpt.bin" > "$D/corrupt.ckpt"
expect_refusal export_err_corrupt_ckpt "$D/x.gguf" --resume "$D/corrupt.ckpt" --tokenizer "$D/tok" --format gguf --out "$D/x.gguf"
$TOK train --input "$D/text.txt" --vocab-size 300 --output "$D/tok300" >/dev/null 2>&1
expect_refusal export_err_tokenizer_not_recorded "$D/x.gguf" --resume "$D/dense" --tokenizer "$D/tok300" --format gguf --out "$D/x.gguf"
mkdir -p "$D/lone" && cp "$D/dense/ckpt.bin" "$D/lone/"   # a checkpoint without its run record
expect_refusal export_err_tokenizer_vocab "$D/x.gguf" --resume "$D/lone" --tokenizer "$D/tok300" --format gguf --out "$D/x.gguf"
expect_refusal export_err_no_tokenizer "$D/x.gguf" --resume "$D/lone" --format gguf --out "$D/x.gguf"
expect_refusal export_err_unwritable "$D/no/such/dir/x.gguf" --resume "$D/dense" --format gguf --out "$D/no/such/dir/x.gguf"
expect_refusal export_err_unwritable_hf "$D/no/such/dir/x" --resume "$D/dense" --format hf --out "$D/no/such/dir/x"
expect_refusal export_err_format "$D/x.gguf" --resume "$D/dense" --format onnx --out "$D/x.gguf"
expect_refusal export_err_q8_hf "$D/x.hf" --resume "$D/dense" --format hf --dtype q8_0 --out "$D/x.hf"
expect_refusal export_err_dtype "$D/x.gguf" --resume "$D/dense" --format gguf --dtype q4 --out "$D/x.gguf"
# an existing output is kept unless --force
before=$(cksum < "$D/dense.f32.gguf")
$TRAIN export --resume "$D/dense" --format gguf --out "$D/dense.f32.gguf" > /dev/null 2> "$D/e"; rc=$?
[ $rc = 1 ] && grep -q 'already exists' "$D/e" && [ "$(cksum < "$D/dense.f32.gguf")" = "$before" ] &&
  pass export_refuses_overwrite || fail export_refuses_overwrite "rc=$rc $(cat "$D/e")"
$TRAIN export --resume "$D/dense" --format gguf --dtype f16 --out "$D/dense.f32.gguf" --force > /dev/null 2> "$D/e" &&
  [ "$(cksum < "$D/dense.f32.gguf")" = "$(cksum < "$D/dense.f16.gguf")" ] && pass export_force_replaces ||
  fail export_force_replaces "$(cat "$D/e")"
$TRAIN export --resume "$D/moe" --format hf --out "$D/moe.hf" --force > /dev/null 2> "$D/e" &&
  [ -f "$D/moe.hf/model.safetensors" ] && [ -z "$(ls -d "$D"/moe.hf.* 2>/dev/null)" ] && pass export_force_replaces_hf ||
  fail export_force_replaces_hf "$(cat "$D/e"; ls -d "$D"/moe.hf*)"

# ---- an old (version 1) tokenizer: still loads, exports with a warning ------------------
# version 1 = no pretok field: drop bytes 20..23 and write version 1
{ head -c 4 "$D/tok"; printf '\001\000\000\000'; tail -c +9 "$D/tok" | head -c 12; tail -c +25 "$D/tok"; } > "$D/tok.v1"
$TRAIN export --resume "$D/dense" --tokenizer "$D/tok.v1" --force --format gguf --out "$D/v1.gguf" > /dev/null 2> "$D/e"; rc=$?
[ $rc = 0 ] && [ -s "$D/v1.gguf" ] && grep -q 'warning: .*version 1 tokenizer' "$D/e" &&
  pass export_v1_tokenizer_warns "($(cut -c1-100 < "$D/e")...)" || fail export_v1_tokenizer_warns "rc=$rc $(cat "$D/e")"
$TOK info --model "$D/tok.v1" | grep -q "first rule" && pass tokenizer_v1_still_loads || fail tokenizer_v1_still_loads "$($TOK info --model "$D/tok.v1" 2>&1 | head -2)"

exit $failed
