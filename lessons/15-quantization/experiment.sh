#!/usr/bin/env bash
# lessons/15-quantization/experiment.sh IMPL — LONG=1 (run by lessons/run.sh
# after the checks): the table of the README, measured on a trained model:
#   1. the text: $TEXT if set, else data/tinyshakespeare.txt (what `make run`
#      downloads) if present, else a text generated here (1.5 MB of sentences)
#   2. tokenizer train --vocab-size 1024; encode with the last 10% held out
#   3. train the default model for STEPS (default 120) steps of batch 8
#      (120 take about a minute on two cores), seed 1337
#   4. quantize_model (this folder) on the checkpoint and the held-out tokens
# It prints its numbers but adds no PASS/FAIL line.
set -u
impl=$1 out=$BUILD/lessons
echo "LONG=1: the cost of each scheme on a trained model (minutes)"
set -e
# shellcheck disable=SC2086
$CC $CFLAGS -I. -DLESSON_IMPL="\"$impl.c\"" -o "$out/15-quantize_model-$impl" "$LESSON_DIR/quantize_model.c" -lm
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
text=${TEXT:-}
if [ -z "$text" ] && [ -s data/tinyshakespeare.txt ]; then text=data/tinyshakespeare.txt; fi
if [ -z "$text" ]; then
  # a generated text: 40000 sentences from small word lists, fixed seed
  text=$tmp/generated.txt
  awk 'BEGIN { srand(15);
    split("the a one every that my your no some this", det, " ");
    split("king queen dog river city friend letter house ship night garden soldier", noun, " ");
    split("sees finds loves keeps leaves builds carries follows hears remembers", verb, " ");
    split("old quiet bright broken distant gentle hungry little", adj, " ");
    for (i = 0; i < 40000; i++) {
      s = det[int(rand()*10)+1] " " adj[int(rand()*8)+1] " " noun[int(rand()*12)+1] " " verb[int(rand()*10)+1] " " det[int(rand()*10)+1] " " noun[int(rand()*12)+1];
      if (rand() < 0.3) s = s " and " verb[int(rand()*10)+1] " it";
      printf "%s%s. ", toupper(substr(s, 1, 1)), substr(s, 2);
      if (i % 5 == 4) printf "\n";
    } }' > "$text"
fi
echo "text: $text ($(wc -c < "$text") bytes)"
x() { echo "+ $*"; "$@"; }
x "$BIN/tokenizer" train --input "$text" --vocab-size 1024 --output "$tmp/q.tok"
x "$BIN/tokenizer" encode --model "$tmp/q.tok" --input "$text" --output "$tmp/q.train.bin" \
  --val-fraction 0.1 --val-output "$tmp/q.val.bin"
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
x "$BIN/train" --train "$tmp/q.train.bin" --val "$tmp/q.val.bin" --out "$tmp/run" \
  --steps "${STEPS:-120}" --batch 8 --eval-every 0 --save-every 0 --seed 1337
x "$out/15-quantize_model-$impl" "$tmp/run/ckpt.bin" "$tmp/q.val.bin"
