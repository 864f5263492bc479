#!/usr/bin/env bash
# The test runner: runs every test program given on the command line, counts
# the lines they print that start with "PASS ", "FAIL " or "SKIP ", and ends with
# "N passed, N failed, N skipped". A program that exits non-zero without printing
# a FAIL line counts as one failure (a crash must never look like success).
# Exit status: 0 only if nothing failed.
pass=0; fail=0; skip=0; times=()
for t in "$@"; do
  echo "== $t"
  out=$(mktemp)
  t0=$(date +%s)
  bash -c "$t" 2>&1 | tee "$out"
  rc=${PIPESTATUS[0]}
  times+=("$(( $(date +%s) - t0 )) s  $t")
  p=$(grep -c '^PASS ' "$out"); f=$(grep -c '^FAIL ' "$out"); s=$(grep -c '^SKIP ' "$out")
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
    echo "FAIL $t exited with status $rc"; f=1
  fi
  pass=$((pass + p)); fail=$((fail + f)); skip=$((skip + s))
  rm -f "$out"
done
echo
echo "time per test program (wall clock):"
printf '  %s\n' "${times[@]}"
echo
echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
