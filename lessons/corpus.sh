#!/usr/bin/env bash
# lessons/corpus.sh DIR BYTES VOCAB — the data of a lesson's experiment: the
# text of `make run` (data/get_text.sh: TEXT=FILE, else Tiny Shakespeare, else
# the Debian fortunes), its first BYTES bytes as DIR/c.txt, a VOCAB-token BPE
# DIR/c.tok, and the token files DIR/c.train.bin and DIR/c.val.bin (the last
# 10% held out). BIN: where ./tokenizer is. Exits non-zero on any failure.
set -eu
dir=$1 bytes=$2 vocab=$3
text=$(bash data/get_text.sh "${TEXT:-}")
head -c "$bytes" "$text" > "$dir/c.txt"
"${BIN:-.}/tokenizer" train --input "$dir/c.txt" --vocab-size "$vocab" --output "$dir/c.tok" > /dev/null
"${BIN:-.}/tokenizer" encode --model "$dir/c.tok" --input "$dir/c.txt" --output "$dir/c.train.bin" \
  --val-fraction 0.1 --val-output "$dir/c.val.bin" > /dev/null
