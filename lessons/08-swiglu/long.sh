#!/usr/bin/env bash
# lessons/08-swiglu/long.sh — the experiment of the README, run by
# `make lesson N=8 LONG=1` (a few minutes; not a check): the same small dense
# model trained twice on the `make run` corpus (data/get_text.sh; TEXT=FILE
# picks another), once with SwiGLU at F = round(2/3 * 4D) and once with a plain
# SiLU MLP of hidden 4D, which has the same number of useful weights:
#       SwiGLU   3 * D * F   = 3 * 128 * 341 = 130944 per layer
#       SiLU     2 * D * 4D  = 2 * 128 * 512 = 131072 per layer
# The SiLU model is built from a sandbox copy of the header (in a temporary
# folder, never the real one) whose activation is h = silu(gate): the up
# projection is left out of the product and gets no gradient, so its W_up is
# dead weight that the dry-run counts but the model cannot use.
set -eu
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "LONG: SwiGLU against a SiLU MLP of equal parameter count (a few minutes)"
text=$(bash data/get_text.sh "${TEXT:-}")
"$BIN/tokenizer" train --input "$text" --vocab-size 512 --output "$tmp/t.tok" > /dev/null
"$BIN/tokenizer" encode --model "$tmp/t.tok" --input "$text" --output "$tmp/train.bin" \
    --val-fraction 0.1 --val-output "$tmp/val.bin" > /dev/null

# the sandbox: train.c includes "ultrathink.h" from its own folder, so both go there
cp train.c ultrathink.h "$tmp/"
python3 - "$tmp/ultrathink.h" <<'PY'
import sys
p = sys.argv[1]; s = open(p).read()
edits = [("h[i] = g / (1 + ut__exp(-g)) * up[i];", "h[i] = g / (1 + ut__exp(-g));   /* SiLU MLP: no up */"),
         ("dup[i] = d * g * sg;", "dup[i] = 0;"),
         ("dgate[i] = d * up[i] * sg * (1 + g * (1 - sg));", "dgate[i] = d * sg * (1 + g * (1 - sg));")]
for a, b in edits:
    assert s.count(a) == 1, "the sandbox edit no longer applies: " + a
    s = s.replace(a, b)
open(p, "w").write(s)
PY
# shellcheck disable=SC2086
$CC $CFLAGS -o "$tmp/train-silu" "$tmp/train.c" -lm

common="--val $tmp/val.bin --layers 2 --dim 128 --heads 4 --kv-heads 2 --experts 1 --seq 64 --batch 16
        --steps ${STEPS:-400} --eval-every 0 --save-every 0 --seed 1337"
run() {   # name program ffn
  local t0 t1 line
  t0=$(date +%s.%N)
  # shellcheck disable=SC2086
  "$2" --train "$tmp/train.bin" $common --ffn "$3" --out "$tmp/$1" > "$tmp/$1.log" 2>&1 || { cat "$tmp/$1.log"; exit 1; }
  t1=$(date +%s.%N)
  line=$(grep '^final:' "$tmp/$1.log")
  printf '%-8s F=%-4s %s  (%.0f s)\n' "$1" "$3" "$line" "$(awk "BEGIN{print $t1 - $t0}")"
}
run swiglu "$BIN/train" 341
run silu "$tmp/train-silu" 512
