#!/usr/bin/env bash
# lessons/11-adamw/experiment.sh IMPL — the exercise's experiment (LONG=1, run
# by lessons/run.sh after the checks): the learning-rate sweep with ./train
# (minutes; printed, never counted as a check).
set -u
# The corpus of `make run` (data/get_text.sh: TEXT=FILE, else Tiny Shakespeare,
# else the Debian fortunes), its first 300 kB, a 512-token BPE; a small model
# (2 layers, D 64, 4 experts top-2), 300 steps of B 8 x T 64, seed 1337,
# warmup 30 steps, clip 1, weight decay 0.1 unless the row says otherwise.
# The default lr is 2e-3; then x10, x100, x1000, x5000 (the flag's maximum),
# and one run whose decay factor 1 - lr*wd is negative.
echo
echo "experiment (LONG=1): the learning rate (a uniform guess over the 513 tokens scores ln 513 = 6.240)"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
bash lessons/corpus.sh "$tmp" 300000 512 || exit 1
printf '%-32s %-10s %-10s %s\n' "settings" "train loss" "val loss" "how it ended"
i=0
for args in "--lr 2e-3" "--lr 2e-2" "--lr 0.2" "--lr 2" "--lr 10" "--lr 2 --weight-decay 2"; do
  i=$((i + 1)); log=$tmp/log.$i
  t0=$(date +%s.%N)
  # shellcheck disable=SC2086
  OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive} "$BIN/train" --train "$tmp/c.train.bin" --val "$tmp/c.val.bin" \
    --out "$tmp/run.$i" --layers 2 --dim 64 --heads 4 --kv-heads 2 --ffn 128 --experts 4 --top-k 2 \
    --batch 8 --seq 64 --steps 300 --eval-every 100 --save-every 0 --seed 1337 $args > "$log" 2>&1
  code=$?
  t1=$(date +%s.%N)
  # the last progress line's train loss; the final val loss or the NaN stop
  awk -v args="$args" -v code="$code" -v t0="$t0" -v t1="$t1" '
    /^step / { for (j = 1; j < NF; j++) if ($j == "loss") tl = $(j + 1) }
    /^final: val_loss/ { val = $3 }
    /error: the/ { sub(/.*error: /, ""); sub(/: stopping.*/, ""); stop = $0 }
    END { printf "%-32s %-10s %-10s %s (%.0f s)\n", args, tl, val == "" ? "-" : val,
                 stop != "" ? "stopped: " stop : (code == 0 ? "finished" : "failed, exit " code), t1 - t0 }' "$log"
done
