#!/usr/bin/env bash
# bench_tokenizer.sh [CORPUS] — speed and memory of ./tokenizer, with
# sentencepiece (spm_train / spm_encode, BPE mode) beside it for scale.
# Prints figures, not pass/fail.  CORPUS defaults to data/tinyshakespeare.txt
# (where `make run` / data/get_text.sh put Tiny Shakespeare, 1.1 MB); a 20x copy of it (22 MB) is made in a temp dir.
#   wall  = elapsed time of the whole command (start-up, reading, writing
#           and fsync included); best of 5 runs (REPS=N to change), except
#           spm_train and spm_encode on 22 MB (1 run each: they take seconds)
#   cpu   = user + system CPU seconds (less disturbed than wall time when
#           other programs share the machine), 10 ms resolution
#   peak  = maximum resident set size, from /usr/bin/time -v
# Both tools start from the same text; spm_train uses all its default
# threads, ./tokenizer one.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TOK="$ROOT/tokenizer"
CORPUS=${1:-data/tinyshakespeare.txt}
VOCAB=4096

if [ ! -f "$CORPUS" ]; then
  echo "error: corpus '$CORPUS' not found. Get Tiny Shakespeare (1.1 MB) with" >&2
  echo "    bash data/get_text.sh      (downloads data/tinyshakespeare.txt)" >&2
  echo "  or pass another text: bench/bench_tokenizer.sh PATH" >&2
  exit 1
fi
if [ ! -x "$TOK" ]; then (cd "$ROOT" && make -s tokenizer) || { echo "error: cannot build ./tokenizer" >&2; exit 1; }; fi
if [ ! -x /usr/bin/time ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then apt-get install -y -qq time >/dev/null 2>&1; fi
fi
HAVE_TIME=0; [ -x /usr/bin/time ] && HAVE_TIME=1
HAVE_SPM=0; command -v spm_train >/dev/null && command -v spm_encode >/dev/null && HAVE_SPM=1

W=$(mktemp -d "${TMPDIR:-/tmp}/bench_tokenizer.XXXXXX") || exit 1
trap 'rm -rf "$W"' EXIT

# run LABEL CMD...: runs CMD (stdout to $W/out), sets WALL (s) and PEAK (MB)
run() {
  local t0 t1
  t0=$EPOCHREALTIME
  if [ $HAVE_TIME = 1 ]; then /usr/bin/time -v -o "$W/time.txt" "$@" > "$W/out" 2> "$W/err"
  else "$@" > "$W/out" 2> "$W/err"; fi
  local rc=$?
  t1=$EPOCHREALTIME
  if [ $rc -ne 0 ]; then echo "  command failed ($rc): $*"; sed 's/^/    /' "$W/err" | tail -3; exit 1; fi
  WALL=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
  PEAK="?"; CPU="?"
  if [ $HAVE_TIME = 1 ]; then
    PEAK=$(awk '/Maximum resident set size/ { printf "%.0f", $NF / 1024 }' "$W/time.txt")
    CPU=$(awk '/User time|System time/ { t += $NF } END { printf "%.2f", t }' "$W/time.txt")
  fi
}
# best_of CMD...: like run, keeps the fastest of REPS runs (default 5), its
# output in $W/best_out.  The minimum filters out the
# moments when other programs had the CPU.
REPS=${REPS:-5}
best_of() {
  local best="" bp="" bc=""
  for _ in $(seq "$REPS"); do
    run "$@"
    if [ -z "$best" ] || awk -v a="$WALL" -v b="$best" 'BEGIN { exit !(a < b) }'; then
      best=$WALL; bp=$PEAK; bc=$CPU; cp "$W/out" "$W/best_out"
    fi
  done
  WALL=$best; PEAK=$bp; CPU=$bc
}
mbs() { awk -v n="$1" -v t="$2" 'BEGIN { printf "%.1f", n / t / 1e6 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b / a }'; }

SMALL=$(wc -c < "$CORPUS")
for _ in $(seq 20); do cat "$CORPUS"; done > "$W/big.txt"
BIG=$(wc -c < "$W/big.txt")
echo "tokenizer benchmark: $(nproc) cores, $(uname -m), $(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2 | sed 's/^ //')"
echo "corpus $CORPUS: $SMALL bytes; 20x copy: $BIG bytes; vocab $VOCAB"
[ $HAVE_SPM = 1 ] || echo "(spm_train / spm_encode not found: install the 'sentencepiece' package to compare; showing ours only)"
[ $HAVE_TIME = 1 ] || echo "(/usr/bin/time not found: install the 'time' package for peak memory)"
echo

SPM_ARGS="--model_type=bpe --vocab_size=$VOCAB --character_coverage=1.0 --minloglevel=2"

for which in small big; do
  if [ $which = small ]; then IN=$CORPUS; N=$SMALL; else IN=$W/big.txt; N=$BIG; fi
  echo "== train, vocab $VOCAB, $(awk -v n=$N 'BEGIN { printf "%.1f MB", n / 1e6 }')"
  best_of "$TOK" train --input "$IN" --vocab-size $VOCAB --output "$W/$which.tok"
  OURS=$WALL
  printf "  ours        %8.3f s wall  %6s s cpu   peak %5s MB\n" "$WALL" "$CPU" "$PEAK"
  if [ $HAVE_SPM = 1 ]; then
    if [ $which = small ]; then best_of spm_train --input="$IN" --model_prefix="$W/spm_$which" $SPM_ARGS
    else run spm_train --input="$IN" --model_prefix="$W/spm_$which" $SPM_ARGS; fi
    printf "  spm_train   %8.3f s wall  %6s s cpu   peak %5s MB   (ours: %sx less wall time)\n" "$WALL" "$CPU" "$PEAK" "$(ratio "$OURS" "$WALL")"
  fi
done

for which in small big; do
  if [ $which = small ]; then IN=$CORPUS; N=$SMALL; else IN=$W/big.txt; N=$BIG; fi
  echo "== encode $(awk -v n=$N 'BEGIN { printf "%.1f MB", n / 1e6 }') (tokenizers trained on the 1.1 MB corpus)"
  best_of "$TOK" encode --model "$W/small.tok" --input "$IN" --output "$W/enc.bin"
  OURS=$WALL
  LOOP=$(sed -n 's/.*(\([0-9.]*\) MB\/s).*/\1/p' "$W/best_out")
  printf "  ours        %8.3f s wall  %6s s cpu = %6s MB/s whole command   peak %5s MB\n" "$WALL" "$CPU" "$(mbs "$N" "$WALL")" "$PEAK"
  printf "              (inside the process, encode + write without start-up and fsync: %s MB/s)\n" "$LOOP"
  if [ $HAVE_SPM = 1 ]; then
    if [ $which = small ]; then best_of sh -c 'spm_encode --model="$1" --output_format=id < "$2"' sh "$W/spm_small.model" "$IN"
    else run sh -c 'spm_encode --model="$1" --output_format=id < "$2"' sh "$W/spm_small.model" "$IN"; fi
    printf "  spm_encode  %8.3f s wall  %6s s cpu = %6s MB/s whole command   peak %5s MB   (ours: %sx less wall time)\n" \
      "$WALL" "$CPU" "$(mbs "$N" "$WALL")" "$PEAK" "$(ratio "$OURS" "$WALL")"
  fi
done
