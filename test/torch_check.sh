#!/usr/bin/env bash
# torch_check.sh BINARY — the PyTorch cross-check: writes the reference states
# with test/torch_ref.py (Debian's python3-torch, run by /usr/bin/python3) into
# a temp dir, then runs BINARY (test/test_torch.c) on each. Prints PASS/FAIL
# lines (see test/run.sh) and exits non-zero if anything failed; without torch
# it prints one SKIP line and exits 0 (skipped, not passed).
cd "$(dirname "$0")/.." || exit 1
BIN_TEST=${1:-build/test_torch}
PY=/usr/bin/python3
if [ -n "$UT_SANITIZED" ]; then   # test_grad checks the same C code on this build
  echo "note: sanitizer build: the PyTorch reference check left out here; make test runs it"
  exit 0
fi
if ! "$PY" -c 'import torch' >/dev/null 2>&1; then
  echo "SKIP torch_reference python3-torch not installed (apt-get install python3-torch)"
  exit 0
fi
if [ ! -x "$BIN_TEST" ]; then echo "FAIL torch_reference $BIN_TEST not built"; exit 1; fi
D=$(mktemp -d "${TMPDIR:-/tmp}/test_torch.XXXXXX") || exit 1
trap 'rm -rf "$D"' EXIT
status=0
for cfg in dense moe; do
  if ! "$PY" test/torch_ref.py --config "$cfg" --out "$D/$cfg.state"; then
    echo "FAIL torch_reference_$cfg torch_ref.py failed"; status=1; continue
  fi
  "$BIN_TEST" "$D/$cfg.state" || status=1
done
exit $status
