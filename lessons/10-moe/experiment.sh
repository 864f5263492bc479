#!/usr/bin/env bash
# lessons/10-moe/experiment.sh IMPL — the exercise's experiment (LONG=1, run by
# lessons/run.sh after the checks): the --aux-coef sweep with ./train
# (minutes; printed, never counted as a check).
set -u
# The corpus of `make run` (data/get_text.sh: TEXT=FILE, else Tiny Shakespeare,
# else the Debian fortunes), its first 300 kB, a 512-token BPE; a small MoE
# model (2 layers, D 64, E 4 experts, top-2), 300 steps of B 8 x T 64, seed
# 1337, once per coefficient. The expert load printed is that of steps
# 201-300 (train reports it at every evaluation, here every 100 steps).
echo
echo "experiment (LONG=1): the load-balancing coefficient --aux-coef"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
bash lessons/corpus.sh "$tmp" 300000 512 || exit 1
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
