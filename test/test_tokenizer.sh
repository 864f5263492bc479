#!/usr/bin/env bash
# test_tokenizer.sh — tests of the ./tokenizer command line (issue #3):
# round trips through real files, --val-fraction, determinism, and every
# bad-input case (non-zero exit, one "tokenizer: error:" line, no output and
# no temp file left, an existing output never overwritten).
# Prints PASS/FAIL lines (see test/run.sh); exits non-zero if anything failed.
# Makes its own data in a temp dir; needs only bash, coreutils and ./tokenizer.
cd "$(dirname "$0")/.." || exit 1
# the program under test: $TOKENIZER if set, else $BIN/tokenizer (BIN: see Makefile)
TOK=${TOKENIZER:-${BIN:-.}/tokenizer}
failed=0
pass() { echo "PASS $1"; }
fail() { echo "FAIL $1 ${*:2}"; failed=1; }
if [ ! -x "$TOK" ]; then fail tokenizer_binary "$TOK not built: run make"; exit 1; fi

D=$(mktemp -d "${TMPDIR:-/tmp}/test_tokenizer.XXXXXX") || exit 1
trap 'rm -rf "$D"' EXIT

# u32 / u64 little-endian field at a byte offset (od reads in host order, so
# this assumes a little-endian machine, like every x86 and ARM one in use).
u32() { od -An -t u4 -j "$2" -N 4 "$1" | tr -d ' '; }
u64() { od -An -t u8 -j "$2" -N 8 "$1" | tr -d ' '; }
# overwrite bytes at an offset: poke FILE OFFSET 'printf-escaped bytes'
poke() { printf "$3" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none; }

# ---- a small corpus: repeated words, punctuation, numbers, UTF-8 ----------
for i in $(seq 1 300); do
  echo "The quick brown fox $i jumps over the lazy dog; the dog sleeps."
  echo "  Ünïcödé café — naïve 日本語 😀, and <|endoftext|> markers"
done > "$D/corpus.txt"

# ---- train, info, determinism ---------------------------------------------
if $TOK train --input "$D/corpus.txt" --vocab-size 400 --output "$D/a.tok" >/dev/null 2>"$D/err" &&
   $TOK train --input "$D/corpus.txt" --vocab-size 400 --output "$D/b.tok" >/dev/null 2>>"$D/err"; then
  if cmp -s "$D/a.tok" "$D/b.tok"; then pass train_twice_byte_identical; else fail train_twice_byte_identical "files differ"; fi
else
  fail train_twice_byte_identical "train failed: $(head -1 "$D/err")"
fi
magic=$(head -c 4 "$D/a.tok")
if [ "$magic" = UTBP ] && [ "$(u32 "$D/a.tok" 4)" = 2 ] && [ "$(u32 "$D/a.tok" 8)" = 401 ] &&
   [ "$(u32 "$D/a.tok" 12)" = 144 ] && [ "$(u32 "$D/a.tok" 16)" = 1 ] && [ "$(u32 "$D/a.tok" 20)" = 2 ]; then
  pass tok_header_fields
else
  fail tok_header_fields "magic=$magic version=$(u32 "$D/a.tok" 4) vocab=$(u32 "$D/a.tok" 8) merges=$(u32 "$D/a.tok" 12)"
fi
# two inputs concatenate: same as training on the joined file
head -c 5000 "$D/corpus.txt" > "$D/part1"; tail -c +5001 "$D/corpus.txt" > "$D/part2"
$TOK train --input "$D/part1" "$D/part2" --vocab-size 400 --output "$D/c.tok" >/dev/null 2>&1
if cmp -s "$D/a.tok" "$D/c.tok"; then pass train_multiple_inputs_concatenate; else fail train_multiple_inputs_concatenate "differs"; fi
# the naive trainer (train --naive, the teaching version) writes the same file
head -c 6000 "$D/corpus.txt" > "$D/small.txt"
$TOK train --input "$D/small.txt" --vocab-size 350 --output "$D/fast.tok" >/dev/null 2>&1
$TOK train --input "$D/small.txt" --vocab-size 350 --output "$D/naive.tok" --naive >/dev/null 2>&1
if [ -s "$D/fast.tok" ] && [ "$(u32 "$D/fast.tok" 12)" = 94 ] && cmp -s "$D/fast.tok" "$D/naive.tok"; then pass train_naive_same_file
else fail train_naive_same_file "merges $(u32 "$D/fast.tok" 12) (want 94), or the files differ"; fi
if $TOK info --model "$D/a.tok" --input "$D/corpus.txt" > "$D/info" 2>&1 &&
   grep -q 'vocab size: 401' "$D/info" && grep -q 'bytes/token' "$D/info" && [ "$(grep -c '  len ' "$D/info")" = 10 ]; then
  pass info_output
else
  fail info_output "$(head -3 "$D/info")"
fi
for cmd in train encode decode info; do
  if $TOK $cmd --help | grep -q "usage: tokenizer $cmd"; then pass "help_$cmd"; else fail "help_$cmd" "no usage"; fi
done

# ---- round trips through files ---------------------------------------------
roundtrip() { # name file [encode flags...]
  local name=$1 f=$2; shift 2
  if ! $TOK encode --model "$D/a.tok" --input "$f" --output "$D/rt.bin" "$@" >/dev/null 2>"$D/err"; then
    fail "$name" "encode failed: $(head -1 "$D/err")"; return
  fi
  if ! $TOK decode --model "$D/a.tok" --input "$D/rt.bin" > "$D/rt.out" 2>"$D/err"; then
    fail "$name" "decode failed: $(head -1 "$D/err")"; return
  fi
  local size; size=$(wc -c < "$f")
  if ! cmp -s "$f" "$D/rt.out"; then fail "$name" "decoded text differs"
  elif [ "$(u64 "$D/rt.bin" 24)" != "$size" ]; then fail "$name" "n_bytes $(u64 "$D/rt.bin" 24) != $size"
  elif [ "$(u32 "$D/rt.bin" 12)" != 2 ] || [ "$(head -c 4 "$D/rt.bin")" != UTTK ]; then fail "$name" "bad header"
  elif [ $(( $(wc -c < "$D/rt.bin") - 32 )) != $(( 2 * $(u64 "$D/rt.bin" 16) )) ]; then fail "$name" "n_tokens wrong"
  else pass "$name"; fi
}
roundtrip roundtrip_corpus "$D/corpus.txt"
roundtrip roundtrip_corpus_eot "$D/corpus.txt" --eot
: > "$D/empty"; roundtrip roundtrip_empty "$D/empty"
printf 'a\0b\0\0 \0\n\0' > "$D/nul"; roundtrip roundtrip_nul_bytes "$D/nul"
printf '\xff\xfe\xc3 \x80\x80x\xe6\x97 \xed\xa0\x80\xc0\xaf' > "$D/badutf8"; roundtrip roundtrip_invalid_utf8 "$D/badutf8"
printf 'Ελληνικά Русский 日本語 中文 العربية עברית हिन्दी 😀👍🏽🇫🇷\n' > "$D/mixed"; roundtrip roundtrip_mixed_scripts "$D/mixed"
head -c 1048576 /dev/zero | tr '\0' 'x' > "$D/longline"; roundtrip roundtrip_1mb_line "$D/longline"
tr -d ' \n\t' < "$D/corpus.txt" > "$D/nospace"; roundtrip roundtrip_no_whitespace "$D/nospace"
head -c 100000 /dev/urandom > "$D/random"; roundtrip roundtrip_random_bytes "$D/random"
# with --eot the literal becomes the special id (400 = vocab size N), without it never
$TOK encode --model "$D/a.tok" --input "$D/corpus.txt" --output "$D/e1.bin" --eot >/dev/null 2>&1
$TOK encode --model "$D/a.tok" --input "$D/corpus.txt" --output "$D/e0.bin" >/dev/null 2>&1
n1=$(tail -c +33 "$D/e1.bin" | od -An -v -t u2 -w2 | grep -cx ' *400')
n0=$(tail -c +33 "$D/e0.bin" | od -An -v -t u2 -w2 | grep -cx ' *400')
if [ "$n1" = 300 ] && [ "$n0" = 0 ]; then pass eot_flag; else fail eot_flag "special ids: with --eot $n1 (want 300), without $n0 (want 0)"; fi

# input from a pipe (not mmap-able) gives the same tokens as from the file
if cat "$D/corpus.txt" | $TOK encode --model "$D/a.tok" --input /dev/stdin --output "$D/pipe.bin" >/dev/null 2>&1 &&
   cmp -s "$D/pipe.bin" "$D/e0.bin"; then pass encode_from_pipe; else fail encode_from_pipe "differs from file input"; fi

# ---- --val-fraction ---------------------------------------------------------
if $TOK encode --model "$D/a.tok" --input "$D/corpus.txt" --output "$D/tr.bin" --val-fraction 0.3 \
     --val-output "$D/va.bin" >/dev/null 2>"$D/err"; then
  $TOK decode --model "$D/a.tok" --input "$D/tr.bin" > "$D/tr.txt"
  $TOK decode --model "$D/a.tok" --input "$D/va.bin" > "$D/va.txt"
  total=$(wc -c < "$D/corpus.txt"); ntr=$(wc -c < "$D/tr.txt"); nva=$(wc -c < "$D/va.txt")
  if ! cat "$D/tr.txt" "$D/va.txt" | cmp -s - "$D/corpus.txt"; then fail val_fraction_split "concatenation differs"
  elif [ "$(u64 "$D/tr.bin" 24)" != "$ntr" ] || [ "$(u64 "$D/va.bin" 24)" != "$nva" ]; then fail val_fraction_split "n_bytes fields wrong"
  elif [ $((ntr * 10)) -lt $((total * 7)) ] || [ $((ntr * 10)) -gt $((total * 7 + total / 5)) ]; then fail val_fraction_split "train part $ntr of $total bytes"
  elif [ "$(tail -c 1 "$D/tr.txt" | od -An -c | tr -d ' ')" != '\n' ]; then fail val_fraction_split "cut not after a newline"
  else pass val_fraction_split; fi
  # the two token files hold exactly the tokens of the unsplit encoding
  if cat <(tail -c +33 "$D/tr.bin") <(tail -c +33 "$D/va.bin") | cmp -s - <(tail -c +33 "$D/e0.bin"); then
    pass val_fraction_same_tokens
  else fail val_fraction_same_tokens "tokens differ from the unsplit encoding"; fi
else
  fail val_fraction_split "encode failed: $(head -1 "$D/err")"
fi

# ---- bad input: error line, non-zero exit, nothing written ----------------
# expect_fail NAME OUTPUT_PATH command...  (OUTPUT_PATH: what must not appear)
expect_fail() {
  local name=$1 out=$2; shift 2
  "$@" > "$D/stdout" 2> "$D/stderr"
  local rc=$?
  if [ $rc -eq 0 ]; then fail "$name" "exit status 0"
  elif [ "$(wc -l < "$D/stderr")" != 1 ] || ! grep -q '^tokenizer: error: ' "$D/stderr"; then
    fail "$name" "stderr is not one error line: $(head -c 200 "$D/stderr")"
  elif [ -n "$out" ] && [ -e "$out" ]; then fail "$name" "output $out was created"
  elif ls "$D"/*.tmp.* "$D"/bad/*.tmp.* >/dev/null 2>&1; then fail "$name" "temp file left behind"
  else pass "$name"; fi
}
mkdir -p "$D/bad"; O="$D/bad/out"
expect_fail err_train_missing_input "$O" $TOK train --input "$D/nope.txt" --vocab-size 300 --output "$O"
expect_fail err_train_input_is_dir "$O" $TOK train --input "$D" --vocab-size 300 --output "$O"
expect_fail err_train_empty_corpus "$O" $TOK train --input "$D/empty" --vocab-size 300 --output "$O"
expect_fail err_train_vocab_too_small "$O" $TOK train --input "$D/corpus.txt" --vocab-size 255 --output "$O"
expect_fail err_train_vocab_too_large "$O" $TOK train --input "$D/corpus.txt" --vocab-size 1048577 --output "$O"
expect_fail err_train_vocab_negative "$O" $TOK train --input "$D/corpus.txt" --vocab-size -5 --output "$O"
expect_fail err_train_vocab_not_number "$O" $TOK train --input "$D/corpus.txt" --vocab-size 300x --output "$O"
expect_fail err_train_vocab_missing_value "$O" $TOK train --input "$D/corpus.txt" --output "$O" --vocab-size
expect_fail err_train_no_output "" $TOK train --input "$D/corpus.txt" --vocab-size 300
expect_fail err_train_unknown_flag "$O" $TOK train --input "$D/corpus.txt" --vocab-size 300 --output "$O" --fast
expect_fail err_train_unwritable_output "" $TOK train --input "$D/corpus.txt" --vocab-size 300 --output /nonexistent/dir/x
expect_fail err_unknown_command "" $TOK frobnicate
expect_fail err_encode_unwritable_output "" $TOK encode --model "$D/a.tok" --input "$D/corpus.txt" --output /nonexistent/dir/x
expect_fail err_encode_missing_input "$O" $TOK encode --model "$D/a.tok" --input "$D/nope.txt" --output "$O"
expect_fail err_encode_missing_model "$O" $TOK encode --model "$D/nope.tok" --input "$D/corpus.txt" --output "$O"
expect_fail err_encode_val_without_output "$O" $TOK encode --model "$D/a.tok" --input "$D/corpus.txt" --output "$O" --val-fraction 0.1
expect_fail err_encode_val_fraction_range "$O" $TOK encode --model "$D/a.tok" --input "$D/corpus.txt" --output "$O" --val-fraction 1.5 --val-output "$O.val"
expect_fail err_encode_val_fraction_nan "$O" $TOK encode --model "$D/a.tok" --input "$D/corpus.txt" --output "$O" --val-fraction abc --val-output "$O.val"
expect_fail err_encode_val_unwritable "$O" $TOK encode --model "$D/a.tok" --input "$D/corpus.txt" --output "$O" --val-fraction 0.1 --val-output /nonexistent/dir/v
expect_fail err_encode_val_same_as_output "$O" $TOK encode --model "$D/a.tok" --input "$D/corpus.txt" --output "$O" --val-fraction 0.1 --val-output "$O"
expect_fail err_encode_val_empty_input "$O" $TOK encode --model "$D/a.tok" --input "$D/empty" --output "$O" --val-fraction 0.1 --val-output "$O.val"
expect_fail err_decode_missing_input "" $TOK decode --model "$D/a.tok" --input "$D/nope.bin"

# corrupted tokenizer files: each copy of a.tok is damaged in one way
size=$(wc -c < "$D/a.tok")
corrupt_tok() { cp "$D/a.tok" "$D/bad.tok"; "$@"; }
check_bad_tok() { # name: both encode and decode must refuse bad.tok
  expect_fail "$1_encode" "$O" $TOK encode --model "$D/bad.tok" --input "$D/corpus.txt" --output "$O"
  expect_fail "$1_decode" "" $TOK decode --model "$D/bad.tok" --input "$D/e0.bin"
}
corrupt_tok poke "$D/bad.tok" 0 'XTBP';                 check_bad_tok err_tok_bad_magic
corrupt_tok poke "$D/bad.tok" 4 '\003';                 check_bad_tok err_tok_bad_version
corrupt_tok poke "$D/bad.tok" 20 '\007';                check_bad_tok err_tok_bad_pretok
corrupt_tok poke "$D/bad.tok" 8 '\222';                 check_bad_tok err_tok_inconsistent_counts
corrupt_tok poke "$D/bad.tok" 12 '\377\377\377\017';    check_bad_tok err_tok_huge_merge_count
corrupt_tok poke "$D/bad.tok" 24 '\000\001\000\000';    check_bad_tok err_tok_merge_refers_forward
corrupt_tok eval 'dd if="$D/a.tok" bs=1 skip=24 count=8 status=none | dd of="$D/bad.tok" bs=1 seek=32 conv=notrunc status=none'
check_bad_tok err_tok_repeated_merge
corrupt_tok poke "$D/bad.tok" $((size - 1)) 'X';        check_bad_tok err_tok_wrong_token_bytes
corrupt_tok truncate -s $((size - 1)) "$D/bad.tok";     check_bad_tok err_tok_truncated
corrupt_tok truncate -s 10 "$D/bad.tok";                check_bad_tok err_tok_truncated_header
corrupt_tok eval 'printf x >> "$D/bad.tok"';            check_bad_tok err_tok_trailing_bytes
: > "$D/bad.tok";                                       check_bad_tok err_tok_empty_file

# corrupted token files
tsize=$(wc -c < "$D/e0.bin")
corrupt_bin() { cp "$D/e0.bin" "$D/bad.bin"; "$@"; }
corrupt_bin poke "$D/bad.bin" 0 'XTTK';              expect_fail err_tokens_bad_magic "" $TOK decode --model "$D/a.tok" --input "$D/bad.bin"
corrupt_bin poke "$D/bad.bin" 4 '\002';              expect_fail err_tokens_bad_version "" $TOK decode --model "$D/a.tok" --input "$D/bad.bin"
corrupt_bin poke "$D/bad.bin" 8 '\002';              expect_fail err_tokens_other_vocab "" $TOK decode --model "$D/a.tok" --input "$D/bad.bin"
corrupt_bin poke "$D/bad.bin" 12 '\004';             expect_fail err_tokens_bad_token_bytes "" $TOK decode --model "$D/a.tok" --input "$D/bad.bin"
corrupt_bin truncate -s $((tsize - 1)) "$D/bad.bin"; expect_fail err_tokens_truncated "" $TOK decode --model "$D/a.tok" --input "$D/bad.bin"
corrupt_bin truncate -s 20 "$D/bad.bin";             expect_fail err_tokens_truncated_header "" $TOK decode --model "$D/a.tok" --input "$D/bad.bin"
corrupt_bin poke "$D/bad.bin" 16 '\001';             expect_fail err_tokens_count_mismatch "" $TOK decode --model "$D/a.tok" --input "$D/bad.bin"
corrupt_bin poke "$D/bad.bin" 24 '\001';             expect_fail err_tokens_n_bytes_mismatch "" $TOK decode --model "$D/a.tok" --input "$D/bad.bin"
corrupt_bin poke "$D/bad.bin" 40 '\221\001';         expect_fail err_tokens_id_out_of_range "" $TOK decode --model "$D/a.tok" --input "$D/bad.bin"
if [ ! -s "$D/stdout" ]; then pass decode_error_prints_no_text; else fail decode_error_prints_no_text "stdout not empty"; fi

# a failing run never overwrites an existing output file
echo precious > "$D/keep.tok"; cp "$D/keep.tok" "$D/keep.orig"
$TOK train --input "$D/nope.txt" --vocab-size 300 --output "$D/keep.tok" 2>/dev/null
cp "$D/a.tok" "$D/bad.tok"; poke "$D/bad.tok" 0 'X'
echo precious > "$D/keep.bin"
$TOK encode --model "$D/bad.tok" --input "$D/corpus.txt" --output "$D/keep.bin" 2>/dev/null
if cmp -s "$D/keep.tok" "$D/keep.orig" && cmp -s "$D/keep.bin" "$D/keep.orig"; then pass error_keeps_existing_output
else fail error_keeps_existing_output "an existing file was changed"; fi


# ---- an output that is an input is refused (issue 10) -----------------------
# Compared by device and inode, so another spelling (./x for x) or a hard link
# to an input is caught too.  The input must come through unchanged.
mkdir -p "$D/same"; S="$D/same"
cp "$D/corpus.txt" "$S/text"; cp "$D/a.tok" "$S/m.tok"; ln "$S/text" "$S/text.link"
cp "$S/text" "$S/text.orig"; cp "$S/m.tok" "$S/m.orig"
expect_same_refused() { # name command...: one error line naming the clash, exit 1, inputs untouched
  local name=$1; shift
  (cd "$S" && "$@") > "$D/stdout" 2> "$D/stderr"
  local rc=$?
  if [ $rc -ne 1 ]; then fail "$name" "exit status $rc (want 1)"
  elif [ "$(wc -l < "$D/stderr")" != 1 ] || ! grep -q '^tokenizer: error: .*same file' "$D/stderr"; then
    fail "$name" "stderr is not one 'same file' error line: $(head -c 200 "$D/stderr")"
  elif ! cmp -s "$S/text" "$S/text.orig" || ! cmp -s "$S/m.tok" "$S/m.orig"; then fail "$name" "an input was changed"
  elif ls "$S"/*.tmp.* >/dev/null 2>&1; then fail "$name" "temp file left behind"
  else pass "$name"; fi
}
T=$(cd "$(dirname "$TOK")" && pwd)/$(basename "$TOK")
expect_same_refused same_train_output_is_input $T train --input text --vocab-size 300 --output text
expect_same_refused same_train_output_is_second_input $T train --input m.orig text --vocab-size 300 --output ./text
expect_same_refused same_train_output_hard_link $T train --input text --vocab-size 300 --output text.link
expect_same_refused same_encode_output_is_input $T encode --model m.tok --input text --output ./text
expect_same_refused same_encode_output_is_model $T encode --model m.tok --input text --output m.tok
expect_same_refused same_encode_output_hard_link $T encode --model m.tok --input text.link --output text
expect_same_refused same_encode_val_output_is_model $T encode --model m.tok --input text --output o.bin --val-fraction 0.1 --val-output ./m.tok
expect_same_refused same_encode_val_output_is_input $T encode --model m.tok --input text --output o.bin --val-fraction 0.1 --val-output text.link
expect_same_refused same_encode_val_output_is_output $T encode --model m.tok --input text --output o.bin --val-fraction 0.1 --val-output ./o.bin
expect_same_refused same_encode_stdin_is_output sh -c "exec $T encode --model m.tok --input /dev/stdin --output text < text"
# an existing output that is another file is still replaced (the normal case)
cp "$D/e0.bin" "$S/old.bin"
if (cd "$S" && $T encode --model m.tok --input text --output old.bin >/dev/null 2>&1) && cmp -s "$S/old.bin" "$D/e0.bin" &&
   (cd "$S" && $T encode --model m.tok --input text --output old.bin >/dev/null 2>&1) && cmp -s "$S/old.bin" "$D/e0.bin"; then
  pass same_check_allows_existing_output
else fail same_check_allows_existing_output "re-encoding over an existing output failed"; fi

# ---- inputs that never end; temp files on a signal (issue 10) ----------------
# A device such as /dev/zero would be read forever: refused at once.  (The
# timeout only stops the old, hanging behaviour; it is not a speed limit.)
guard() { if command -v timeout >/dev/null; then timeout 60 "$@"; else "$@"; fi; }
expect_fail err_train_input_dev_zero "$O" guard $TOK train --input /dev/zero --vocab-size 300 --output "$O"
expect_fail err_encode_input_dev_zero "$O" guard $TOK encode --model "$D/a.tok" --input /dev/zero --output "$O"
expect_fail err_encode_model_dev_zero "$O" guard $TOK encode --model /dev/zero --input "$D/corpus.txt" --output "$O"
expect_fail err_decode_input_dev_zero "" guard $TOK decode --model "$D/a.tok" --input /dev/zero
# pipes still work for train too (encode_from_pipe above covers encode)
if cat "$D/corpus.txt" | $TOK train --input /dev/stdin --vocab-size 400 --output "$D/pipe.tok" >/dev/null 2>&1 &&
   cmp -s "$D/pipe.tok" "$D/a.tok"; then pass train_from_pipe; else fail train_from_pipe "differs from file input"; fi

# SIGTERM in the middle of encode: the temp file is removed.  To stop encode
# at a known point without timing anything, its temp file PATH.tmp.<pid> is
# made beforehand as a FIFO (the pid is known: the subshell execs tokenizer).
# Encode opens it, writes, and blocks once the pipe is full; reading its first
# byte here proves the temp file is open and being written.  Then kill.
for i in $(seq 1 40); do cat "$D/corpus.txt"; done > "$D/big.txt"   # ~1.4 MB: far more tokens than a pipe holds
mkdir -p "$D/sig"
( mkfifo "$D/sig/out.bin.tmp.$BASHPID" && exec $TOK encode --model "$D/a.tok" --input "$D/big.txt" --output "$D/sig/out.bin" ) >/dev/null 2>&1 &
pid=$!
tries=0; until [ -p "$D/sig/out.bin.tmp.$pid" ] || [ $tries -ge 3000 ]; do sleep 0.01; tries=$((tries + 1)); done
exec 4< "$D/sig/out.bin.tmp.$pid"             # the reader end: encode's open() returns
dd bs=1 count=1 <&4 of=/dev/null status=none  # returns once encode has written
kill -TERM $pid; wait $pid; rc=$?; exec 4<&-
if [ $rc -ne 143 ]; then fail sigterm_removes_temp_file "exit status $rc, want 143 (killed by SIGTERM)"
elif ls "$D/sig"/*.tmp.* >/dev/null 2>&1; then fail sigterm_removes_temp_file "temp file left: $(ls "$D/sig")"
elif [ -e "$D/sig/out.bin" ]; then fail sigterm_removes_temp_file "output created"
else pass sigterm_removes_temp_file; fi
# the same for train, whose temp file exists before it reads its input: a FIFO
# input held open by this script keeps it waiting until the kill (SIGINT: Ctrl-C)
mkfifo "$D/sig/in.fifo"; exec 5<> "$D/sig/in.fifo"
head -c 5000 "$D/corpus.txt" >&5
set -m  # job control: without it, bash starts background jobs with SIGINT ignored
$TOK train --input "$D/sig/in.fifo" --vocab-size 300 --output "$D/sig/t.tok" >/dev/null 2>&1 &
pid=$!; set +m
tries=0; until ls "$D/sig"/t.tok.tmp.* >/dev/null 2>&1 || [ $tries -ge 3000 ]; do sleep 0.01; tries=$((tries + 1)); done
kill -INT $pid; wait $pid; rc=$?; exec 5>&-
if [ $rc -ne 130 ]; then fail sigint_removes_temp_file "exit status $rc, want 130 (killed by SIGINT)"
elif ls "$D/sig"/*.tmp.* >/dev/null 2>&1; then fail sigint_removes_temp_file "temp file left: $(ls "$D/sig")"
else pass sigint_removes_temp_file; fi

exit $failed
