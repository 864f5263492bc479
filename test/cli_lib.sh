# cli_lib.sh — helpers shared by the CLI tests (sourced, not run).

# cli_setup NAME: the programs under test ($BIN/train, $BIN/tokenizer; BIN=.
# normally, build-asan for `make test-asan`), pass/fail reporting (test/run.sh
# counts the PASS/FAIL lines; $failed becomes the exit status) and a fresh temp
# dir $D, removed on exit.
cli_setup() {
  BIN=${BIN:-.}
  TRAIN=$BIN/train TOK=$BIN/tokenizer
  failed=0
  for p in "$TRAIN" "$TOK"; do [ -x "$p" ] || { fail binaries "$p is not built (make)"; exit 1; }; done
  D=$(mktemp -d "${TMPDIR:-/tmp}/$1.XXXXXX") || exit 1
  trap 'rm -rf "$D"' EXIT
}
pass() { echo "PASS $*"; }
# sanitized_note WHAT: under `make test-asan` (UT_SANITIZED=1) a test leaves out
# the checks where other programs judge our files, and says so (not counted)
sanitized_note() { echo "note: sanitizer build: $* left out here; make test runs them"; }
fail() { echo "FAIL $1 ${*:2}"; failed=1; }

# make_corpus FILE LINES: a deterministic made-up English text, enough for a
# tiny model to learn word shapes and for BPE to find merges.
make_corpus() {
  awk -v n="$2" 'BEGIN {
    split("the a king queen lord lady good noble sweet my thy his her our fair old young", w1, " ")
    split("speaks loves sees hears calls takes gives keeps holds finds leaves knows", w2, " ")
    split("crown sword heart night day love death honour grace blood field house", w3, " ")
    split("with in upon to for from of by", w4, " ")
    s = 12345
    for (i = 0; i < n; i++) {
      line = ""
      for (j = 0; j < 2; j++) {
        s = (s * 1103515245 + 12345) % 2147483648; a = int(s / 65536) % 17 + 1
        s = (s * 1103515245 + 12345) % 2147483648; b = int(s / 65536) % 12 + 1
        s = (s * 1103515245 + 12345) % 2147483648; c = int(s / 65536) % 12 + 1
        s = (s * 1103515245 + 12345) % 2147483648; d = int(s / 65536) % 8 + 1
        line = line w1[a] " " w2[b] " " w4[d] " the " w3[c] (j ? "." : ", ")
      }
      if (i % 7 == 0) print toupper(substr(w1[a], 1, 1)) substr(w1[a], 2) ":"
      print line
    }
  }' > "$1"
}

# the train_loss values of a metrics.jsonl, one per line, in order
train_losses() { grep -o '"train_loss":[^,}]*' "$1" | cut -d: -f2; }

# u32 / u64 little-endian field at a byte offset (little-endian host)
u32() { od -An -t u4 -j "$2" -N 4 "$1" 2>/dev/null | tr -d ' '; }
u64() { od -An -t u8 -j "$2" -N 8 "$1" 2>/dev/null | tr -d ' '; }
