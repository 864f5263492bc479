#!/usr/bin/env bash
# lessons/07-rope/check.sh IMPL — builds check.c against IMPL.c (exercise or
# solution) and runs it: the checks. With LONG=1 it then runs the exercise's
# measurement, experiment.c: two short training runs, with your RoPE and with
# every angle 0 (minutes; never part of CI). TEXT=FILE picks the text, else
# data/get_text.sh's (Tiny Shakespeare, or offline the fortunes corpus);
# STEPS=N the steps per run (600).
set -u
impl=$1 out=$BUILD/lessons
mkdir -p "$out"
# shellcheck disable=SC2086
if ! $CC $CFLAGS -I. -DLESSON_IMPL="\"$impl.c\"" -o "$out/07-$impl" "$LESSON_DIR/check.c" -lm; then
  echo "FAIL lesson_07_builds $LESSON_DIR/$impl.c does not compile (the errors are above)"; exit 1
fi
"$out/07-$impl"; rc=$?
if [ -n "${LONG:-}" ]; then
  text=$(bash data/get_text.sh "${TEXT:-}") || exit 1
  # shellcheck disable=SC2086
  $CC $CFLAGS -I. -DLESSON_IMPL="\"$impl.c\"" -o "$out/07-experiment-$impl" "$LESSON_DIR/experiment.c" -lm || exit 1
  OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive} "$out/07-experiment-$impl" "$text" "${STEPS:-600}" || exit 1
fi
exit $rc
