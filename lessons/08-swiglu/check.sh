#!/usr/bin/env bash
# lessons/08-swiglu/check.sh IMPL — builds and runs check.c against IMPL.c
# (exercise or solution), as lessons/run.sh does for a lesson with only a
# check.c. With LONG=1 it then runs the experiment of the README: SwiGLU
# against a SiLU MLP of equal parameter count (long.sh; minutes, not a check).
set -u
impl=$1
out=$BUILD/lessons/08-$impl
# shellcheck disable=SC2086
if ! $CC $CFLAGS -I. -DLESSON_IMPL="\"$impl.c\"" -o "$out" "$LESSON_DIR/check.c" -lm; then
  echo "FAIL lesson_08_builds $LESSON_DIR/$impl.c does not compile (the errors are above)"
  exit 1
fi
"$out"; rc=$?
if [ -n "${LONG:-}" ]; then bash "$LESSON_DIR/long.sh" || rc=1; fi
exit $rc
