#!/usr/bin/env bash
# lessons/07-rope/experiment.sh IMPL — the exercise's measurement (LONG=1, run
# by lessons/run.sh after the checks): experiment.c, two short training runs,
# with your RoPE and with every angle 0 (minutes; never part of CI). TEXT=FILE
# picks the text, else data/get_text.sh's (Tiny Shakespeare, or offline the
# fortunes corpus); STEPS=N the steps per run (600).
set -u
impl=$1 out=$BUILD/lessons
text=$(bash data/get_text.sh "${TEXT:-}") || exit 1
# shellcheck disable=SC2086
$CC $CFLAGS -I. -DLESSON_IMPL="\"$impl.c\"" -o "$out/07-experiment-$impl" "$LESSON_DIR/experiment.c" -lm || exit 1
"$out/07-experiment-$impl" "$text" "${STEPS:-600}"
