#!/usr/bin/env bash
# lessons/01-bpe/check.sh IMPL — builds check.c with your exercise.c (or
# solution.c), has it write a 6 kB corpus, trains the real tokenizer on it
# (`./tokenizer train --vocab-size 456`: 200 merges) and runs the checks.
# With LONG=1 it also measures the compression table of the README on the
# text `make run` uses (data/get_text.sh: Tiny Shakespeare, or TEXT=FILE).
set -u
impl=$1
prog=$BUILD/lessons/01-$impl
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# shellcheck disable=SC2086
if ! $CC $CFLAGS -I. -DLESSON_IMPL="\"$impl.c\"" -o "$prog" "$LESSON_DIR/check.c" -lm; then
  echo "FAIL lesson_01_builds $LESSON_DIR/$impl.c does not compile (the errors are above)"; exit 1
fi
"$prog" write "$tmp/corpus.txt" || exit 1
if ! "$BIN/tokenizer" train --input "$tmp/corpus.txt" --vocab-size 456 --output "$tmp/ref.tok" > /dev/null; then
  echo "FAIL merges_match_tokenizer_train ./tokenizer train failed (is it built? make)"; exit 1
fi
"$prog" check "$tmp/corpus.txt" "$tmp/ref.tok"
rc=$?

if [ -n "${LONG:-}" ]; then
  text=$(bash data/get_text.sh "${TEXT:-}") || exit 1
  echo "  long: compression of $text (bytes per token, tokenizer trained on the same text)"
  echo "  long: | V | merges | bytes/token | train time |"
  for v in 256 512 1024 2048; do
    t=$("$BIN/tokenizer" train --input "$text" --vocab-size $v --output "$tmp/v.tok" | sed -n 's/.* in \([0-9.]*\) s:.*/\1/p')
    r=$("$BIN/tokenizer" info --model "$tmp/v.tok" --input "$text" | sed -n 's/.*= \([0-9.]*\) bytes\/token/\1/p')
    echo "  long: | $v | $((v - 256)) | $r | $t s |"
  done
fi
exit $rc
