#!/usr/bin/env bash
# lessons/16-data-parallel/check.sh IMPL — builds check.c with IMPL.c (your
# exercise.c, or solution.c) by mpicc and runs it on 3 ranks (mpirun): your
# ring all-reduce against exact sums and MPI_Allreduce, the same bits on every
# rank, and data-parallel SGD equal to one process. Then the real thing:
# ./train_mpi on 2 ranks against ./train --grad-accum 2 (20 steps, a tiny
# model): the weights' checksum after every step is the same on both ranks
# and in the one process.
# Without Open MPI (mpicc, mpirun) it prints SKIP lines and exits 0; without
# $BIN/train_mpi (make train_mpi) the second part is a SKIP.
set -u
impl=$1
if ! command -v mpicc > /dev/null || ! command -v mpirun > /dev/null; then
  echo "SKIP lesson_16 needs Open MPI (mpicc, mpirun): apt-get install openmpi-bin libopenmpi-dev"; exit 0
fi
prog=$BUILD/lessons/16-$impl
# shellcheck disable=SC2086
if ! OMPI_CC=$CC mpicc $CFLAGS -I. -DLESSON_IMPL="\"$impl.c\"" -o "$prog" "$LESSON_DIR/check.c" -lm; then
  echo "FAIL lesson_16_builds $LESSON_DIR/$impl.c does not compile (the errors are above)"; exit 1
fi
# as root mpirun must be allowed; 3 ranks on fewer cores: --oversubscribe;
# --bind-to none: each rank may use any core. ASan builds (make test-asan):
# Open MPI keeps memory until exit, which the leak check would report.
export OMP_NUM_THREADS=1 OMP_WAIT_POLICY=passive ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0
MPIRUN=(timeout 120 mpirun --allow-run-as-root --oversubscribe --bind-to none)
failed=0
"${MPIRUN[@]}" -np 3 "$prog" || failed=1

TRAIN=$BIN/train MPI=$BIN/train_mpi
if [ ! -x "$MPI" ] || [ ! -x "$TRAIN" ]; then
  echo "SKIP train_mpi_equals_grad_accum $MPI is not built (make train_mpi)"; exit $failed
fi
D=$(mktemp -d "${TMPDIR:-/tmp}/lesson16.XXXXXX") || exit 1
trap 'rm -rf "$D"' EXIT
source test/cli_lib.sh   # make_corpus
make_corpus "$D/text.txt" 1500
"$BIN/tokenizer" train --input "$D/text.txt" --vocab-size 300 --output "$D/tok" > /dev/null 2>&1 &&
"$BIN/tokenizer" encode --model "$D/tok" --input "$D/text.txt" --output "$D/train.bin" > /dev/null 2>&1 ||
  { echo "FAIL token_file the tokenizer failed"; exit 1; }
ARGS=(--train "$D/train.bin" --layers 2 --dim 32 --heads 4 --kv-heads 2 --ffn 64 --experts 2 --top-k 1
      --seq 32 --batch 4 --steps 20 --lr 3e-3 --eval-every 0 --save-every 0)
sums() { grep "^checksum step .* rank $2:" "$1" | awk '{print $3, $6}'; }
UT_CHECKSUMS=1 "$TRAIN" "${ARGS[@]}" --grad-accum 2 --out "$D/one" > /dev/null 2> "$D/one.err"
UT_CHECKSUMS=1 "${MPIRUN[@]}" -np 2 "$MPI" "${ARGS[@]}" --out "$D/two" > /dev/null 2> "$D/two.err"
one=$(sums "$D/one.err" 0) r0=$(sums "$D/two.err" 0) r1=$(sums "$D/two.err" 1)
if [ "$(echo "$one" | grep -c .)" = 20 ] && [ "$r0" = "$r1" ] && [ "$r0" = "$one" ]; then
  echo "PASS train_mpi_equals_grad_accum 2 ranks x --batch 4 = one process --batch 4 --grad-accum 2: the weights' checksum after each of 20 steps is the same on both ranks and in the one process (last $(echo "$one" | tail -1))"
else
  echo "FAIL train_mpi_equals_grad_accum checksums differ or are missing: one process '$(echo "$one" | tail -1)', rank 0 '$(echo "$r0" | tail -1)', rank 1 '$(echo "$r1" | tail -1)'; $(tail -2 "$D/two.err")"
  failed=1
fi
exit $failed
