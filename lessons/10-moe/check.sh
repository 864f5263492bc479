#!/usr/bin/env bash
# lessons/10-moe/check.sh IMPL — builds check.c against IMPL.c (exercise or
# solution) and runs it: the checks. With LONG=1 it then runs the exercise's
# experiment, the --aux-coef sweep with ./train (minutes; printed, never
# counted as a check). run.sh calls this from the repository root with CC,
# CFLAGS, BIN, BUILD, LESSON_DIR in the environment.
set -u
impl=$1 n=10
mkdir -p "$BUILD/lessons"
# shellcheck disable=SC2086
if ! $CC $CFLAGS -I. -DLESSON_IMPL="\"$impl.c\"" -o "$BUILD/lessons/$n-$impl" "$LESSON_DIR/check.c" -lm; then
  echo "FAIL lesson_${n}_builds $LESSON_DIR/$impl.c does not compile (the errors are above)"
  exit 1
fi
# passive: the checks are tiny, and on a busy machine spinning OpenMP threads
# would only slow them down
OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive} "$BUILD/lessons/$n-$impl"
rc=$?
[ -n "${LONG:-}" ] || exit $rc

# ---- LONG=1: the --aux-coef sweep -------------------------------------------
# The corpus of `make run` (data/get_text.sh: TEXT=FILE, else Tiny Shakespeare,
# else the Debian fortunes), its first 300 kB, a 512-token BPE; a small MoE
# model (2 layers, D 64, E 4 experts, top-2), 300 steps of B 8 x T 64, seed
# 1337, once per coefficient. The expert load printed is that of steps
# 201-300 (train reports it at every evaluation, here every 100 steps).
echo
echo "experiment (LONG=1): the load-balancing coefficient --aux-coef"
text=$(bash data/get_text.sh "${TEXT:-}") || exit 1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
head -c 300000 "$text" > "$tmp/c.txt"
"$BIN/tokenizer" train --input "$tmp/c.txt" --vocab-size 512 --output "$tmp/c.tok" > /dev/null || exit 1
"$BIN/tokenizer" encode --model "$tmp/c.tok" --input "$tmp/c.txt" --output "$tmp/c.train.bin" \
  --val-fraction 0.1 --val-output "$tmp/c.val.bin" > /dev/null || exit 1
printf '%-9s %-9s %-7s %-22s %s\n' aux-coef val-loss aux "smallest load (layer)" "load of experts 0-3, layer 0 | layer 1"
for coef in 0 0.01 0.1 1 10; do
  log=$tmp/log.$coef
  t0=$(date +%s.%N)
  OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive} "$BIN/train" --train "$tmp/c.train.bin" --val "$tmp/c.val.bin" \
    --out "$tmp/run.$coef" --layers 2 --dim 64 --heads 4 --kv-heads 2 --ffn 128 --experts 4 --top-k 2 \
    --batch 8 --seq 64 --steps 300 --eval-every 100 --save-every 0 --seed 1337 --aux-coef "$coef" > "$log" 2>&1 \
    || { echo "train failed:"; cat "$log"; exit 1; }
  t1=$(date +%s.%N)
  # the last "expert load ... aux A:" block: "layer l: f0 f1 f2 f3"
  awk -v coef="$coef" -v t0="$t0" -v t1="$t1" '
    /^final: val_loss/ { val = $3 }
    /expert load/ { aux = $NF; sub(":", "", aux); loads = ""; min = 2 }
    /^    layer/ { l = $2; sub(":", "", l); row = ""
                   for (i = 3; i <= NF; i++) { row = row " " $i; if ($i + 0 < min) { min = $i + 0; ml = l } }
                   loads = loads (loads == "" ? "" : " |") row }
    END { printf "%-9s %-9s %-7s %-22s%s   (%.0f s)\n", coef, val, aux, sprintf("%.3f (%s)", min, ml), loads, t1 - t0 }' "$log"
done
exit $rc
