#!/usr/bin/env bash
# lessons/ci.sh — proves that every lesson's check can fail: with solution.c it
# must PASS (exit 0, no FAIL line, at least one PASS), with the untouched
# exercise.c stub it must FAIL (at least one FAIL line, non-zero exit). Prints
# one PASS/FAIL line per lesson and version (counted by test/run.sh); the
# checks' own lines are indented, so the runner does not count them.
set -u
cd "$(dirname "$0")/.."
# check N IMPL: runs one lesson with one version; prints its PASS/FAIL/SKIP
# line (and the check's own output, indented, when it went wrong)
check() {
  local n=$1 impl=$2 log code p f
  log=$(mktemp)
  bash lessons/run.sh "$n" "$impl" > "$log" 2>&1
  code=$?
  p=$(grep -c '^PASS ' "$log"); f=$(grep -c '^FAIL ' "$log")
  # a lesson whose tools are missing (lesson 16 without Open MPI) says SKIP and passes nothing
  if [ $code -eq 0 ] && [ "$p" -eq 0 ] && [ "$f" -eq 0 ] && grep -q '^SKIP ' "$log"; then
    echo "SKIP lesson_${n}_$impl $(grep -m1 '^SKIP ' "$log" | cut -d' ' -f3-)"
  elif [ "$impl" = solution ]; then
    if [ $code -eq 0 ] && [ "$f" -eq 0 ] && [ "$p" -gt 0 ]; then
      echo "PASS lesson_${n}_solution_passes $p check(s) pass with solution.c"
    else
      echo "FAIL lesson_${n}_solution_passes exit $code, $p passed, $f failed with solution.c:"; sed 's/^/    /' "$log"
    fi
  else
    if [ $code -ne 0 ] && [ "$f" -gt 0 ]; then
      echo "PASS lesson_${n}_stub_fails $f of $((p + f)) check(s) fail with the untouched exercise.c (as they must)"
    else
      echo "FAIL lesson_${n}_stub_fails the untouched exercise.c should fail its check, but: exit $code, $p passed, $f failed:"
      sed 's/^/    /' "$log"
    fi
  fi
  rm -f "$log"
}

# Most of a lesson's time is the compiler building its check (one core each),
# so LESSON_JOBS of them (default: the number of cores) run at once; each
# writes its result to its own file, and the results print in lesson order.
res=$(mktemp -d "${TMPDIR:-/tmp}/lessons-ci.XXXXXX") || exit 1
trap 'rm -rf "$res"' EXIT
jobs_max=${LESSON_JOBS:-$(nproc 2> /dev/null || echo 1)}
running=0
for dir in lessons/[0-9][0-9]-*/; do
  dir=${dir%/}; n=$(basename "$dir" | cut -c1-2)
  # under `make test-asan` (UT_SANITIZED=1) only the solutions run: the
  # sanitizers look for memory errors in working code; that each untouched
  # stub fails its check is the same in both builds, and make test proves it
  impls="solution exercise"; [ -n "${UT_SANITIZED:-}" ] && impls=solution
  for impl in $impls; do
    if [ "$running" -ge "$jobs_max" ]; then wait -n; running=$((running - 1)); fi
    check "$n" "$impl" > "$res/$n-$impl" &
    running=$((running + 1))
  done
done
wait
rc=0
for f in $(ls "$res" | sort -t- -k1,1n -k2,2r); do   # lesson order, the solution first
  cat "$res/$f"
  grep -q '^FAIL ' "$res/$f" && rc=1
done
[ -n "${UT_SANITIZED:-}" ] && echo "note: sanitizer build: the untouched stubs' checks left out here; make test runs them"
exit $rc
