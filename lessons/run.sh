#!/usr/bin/env bash
# lessons/run.sh N [exercise|solution] — build lesson N's check against the
# student's exercise.c (default) or the solution, and run it. `make lesson N=6`
# and `make lesson N=6 SOLUTION=1` call this; so does lessons/ci.sh.
#
# A lesson folder lessons/NN-topic/ holds README.md, exercise.c, solution.c and
# its check: either check.c, compiled with the chosen file included through
# LESSON_IMPL (#include LESSON_IMPL), or check.sh, run as `check.sh IMPL` for
# lessons that drive the ./train and ./tokenizer programs. The check prints one
# "PASS name ..." or "FAIL name ..." line per check and exits non-zero on any
# failure. With LONG=1, a lesson's experiment.sh (if it has one) runs after a
# check.c, as `experiment.sh IMPL`: minutes of training that print a table,
# never a PASS or FAIL. Environment: CC, CFLAGS (from make), BIN (where ./train
# and ./tokenizer are), BUILD (where programs go), LONG=1 (the experiments).
set -u
cd "$(dirname "$0")/.."
[ $# -ge 1 ] || { echo "usage: lessons/run.sh N [exercise|solution]"; exit 2; }
n=$(printf '%02d' "$((10#$1))") impl=${2:-exercise}
case $impl in exercise|solution) ;; *) echo "FAIL lesson $n: unknown version '$impl' (exercise or solution)"; exit 2;; esac
dir=$(ls -d lessons/"$n"-*/ 2> /dev/null | head -1)
[ -n "$dir" ] || { echo "FAIL lesson $n: there is no folder lessons/$n-*"; exit 2; }
dir=${dir%/}
# OpenMP threads that wait sleep instead of spinning: on a busy machine spinning
# makes these tiny checks 20x slower.
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
export CC=${CC:-cc} CFLAGS=${CFLAGS:--O2 -std=c11} BIN=${BIN:-.} BUILD=${BUILD:-build} LESSON_DIR=$dir IMPL=$impl
out=$BUILD/lessons
mkdir -p "$out"
echo "lesson $n ($dir) with $impl.c"
if [ -f "$dir/check.sh" ]; then exec bash "$dir/check.sh" "$impl"; fi
# shellcheck disable=SC2086
if ! $CC $CFLAGS -I. -DLESSON_IMPL="\"$impl.c\"" -o "$out/$n-$impl" "$dir/check.c" -lm; then
  echo "FAIL lesson_${n}_builds $dir/$impl.c does not compile (the errors are above)"
  exit 1
fi
# passive: the checks are tiny, and on a busy machine spinning OpenMP threads
# would only slow them down (set above)
"$out/$n-$impl"; rc=$?
if [ -n "${LONG:-}" ] && [ -f "$dir/experiment.sh" ]; then
  echo
  bash "$dir/experiment.sh" "$impl" || exit 1
fi
exit $rc
