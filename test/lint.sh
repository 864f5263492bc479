#!/usr/bin/env bash
# lint.sh — `make lint`: static checks of every C program and test program.
#
#   bash test/lint.sh FILE.c...      (the Makefile passes the list and STB_DIR)
#
# Two kinds of check, each file on its own (the header, ultrathink.h, and
# tokenizer.c are checked through the files that include them):
#   1. cppcheck --enable=warning,style,performance --std=c11, with the
#      suppressions in test/cppcheck.supp (each one says why) and inline
#      `// cppcheck-suppress ID` comments.
#   2. gcc and clang with -Wall -Wextra -Wshadow, each with and without
#      -fopenmp: four builds of every file, compiled to /dev/null.
# Prints every finding once (file:line: message, and which checks saw it),
# then a summary line. Exit status: 0 only if there is no finding. A missing
# tool (clang, cppcheck) or a compiler without OpenMP is reported as
# "skipped: ..." and is not a failure.
cd "$(dirname "$0")/.." || exit 1
STB_DIR=${STB_DIR:-/usr/include/stb}
NPROC=$(nproc 2>/dev/null || echo 2)
OUT=$(mktemp -d "${TMPDIR:-/tmp}/lint.XXXXXX") || exit 1
trap 'rm -rf "$OUT"' EXIT
files=("$@")
skipped=()
# test/lint_mpi.c (train.c built for MPI) needs Open MPI's headers
if ! command -v mpicc > /dev/null; then
  for i in "${!files[@]}"; do [ "${files[$i]}" = test/lint_mpi.c ] && unset 'files[i]'; done
  files=("${files[@]}")
  skipped+=("test/lint_mpi.c (train.c with -DUT_MPI: mpicc not installed: apt-get install libopenmpi-dev)")
fi
# test/lint_nccl*.c (train_gpu's host half with comm.h's NCCL backend) and
# test/test_comm_nccl.c need CUDA's nccl.h, and lint_nccl_mpi.c Open MPI's headers too
CUDA_INC=${CUDA_HOME:-/usr/local/cuda}/include
drop() { for i in "${!files[@]}"; do [ "${files[$i]}" = "$1" ] && unset 'files[i]'; done; files=("${files[@]}"); skipped+=("$1 ($2)"); }
[ -f "$CUDA_INC/nccl.h" ] || { for f in test/lint_nccl.c test/lint_nccl_mpi.c test/test_comm_nccl.c; do drop $f "no $CUDA_INC/nccl.h"; done; }
command -v mpicc > /dev/null || [ ! -f "$CUDA_INC/nccl.h" ] || drop test/lint_nccl_mpi.c "mpicc not installed"
export CUDA_INC

# Flags a file needs, as the Makefile builds it: test_grad checks gradients in
# double (UT_DOUBLE); tokenizer.c and its test include stb_ds.h.
file_flags() {
  case $1 in
    test/test_grad.c) echo "-DUT_DOUBLE" ;;
    test/lint_mpi.c) mpicc --showme:compile ;;   # train.c with comm.h's MPI backend
    test/lint_nccl.c|test/test_comm_nccl.c) echo "-I$CUDA_INC" ;;   # comm.h's NCCL backend
    test/lint_nccl_mpi.c) echo "-I$CUDA_INC $(mpicc --showme:compile)" ;;
    *) echo "-I$STB_DIR" ;;
  esac
}

# ---- 1. cppcheck ---------------------------------------------------------
# train.c is checked in every #ifdef configuration of the header (OpenMP or
# not, UT_NO_FAST_MATMUL, ...); the other files, which include the same
# header, in their first configuration only, which keeps `make lint` near a
# minute on two cores and finds the same things.
if command -v cppcheck > /dev/null; then
  CPPCHECK=(cppcheck --enable=warning,style,performance --std=c11 --inline-suppr --quiet
            --suppressions-list=test/cppcheck.supp --template='{file}:{line}: {message} [cppcheck {id}]')
  {
    for f in "${files[@]}"; do
      if [ "$f" = train.c ]; then "${CPPCHECK[@]}" -I"$STB_DIR" "$f"
      # CUDA's own headers (nccl.h, cuda_runtime_api.h) are not ours to check
      elif [[ "$f" == *nccl* ]]; then "${CPPCHECK[@]}" --max-configs=1 --suppress="*:$CUDA_INC/*" $(file_flags "$f") "$f"
      else "${CPPCHECK[@]}" -I"$STB_DIR" --max-configs=1 $(file_flags "$f") "$f"; fi
    done 2>&1 | grep -v '^$' > "$OUT/cppcheck.txt"
  } &
  cppcheck_done="cppcheck and "
else
  skipped+=("cppcheck (not installed: apt-get install cppcheck)")
fi

# ---- 2. compilers ----------------------------------------------------------
# -O2: some warnings (-Wmaybe-uninitialized) need the optimiser. -g: clang
# names the line of a loop it could not vectorise. Without OpenMP the pragmas
# are meant to be ignored, so -Wno-unknown-pragmas, as the Makefile does.
builds=()
for cc in gcc clang; do
  if ! command -v $cc > /dev/null; then skipped+=("$cc (not installed)"); continue; fi
  builds+=("$cc|-Wno-unknown-pragmas")
  if printf '#include <omp.h>\nint main(void){return omp_get_max_threads();}' |
     $cc -fopenmp -x c - -o /dev/null 2> /dev/null; then builds+=("$cc|-fopenmp")
  else skipped+=("$cc -fopenmp (this $cc has no OpenMP)"); fi
done
# compile FILE CC OMP: one build; its findings, one a line, go to a .found file
compile() {
  local f=$1 cc=$2 omp=$3 log
  log="$OUT/cc.$cc$omp.$(echo "$f" | tr / _).log"
  # clang -fopenmp reports each "#pragma omp simd" loop it could not vectorise
  # (-Wpass-failed): a remark about its optimiser (the softmax loops call our
  # exp, which gcc vectorises and clang does not), not a defect in the code.
  local quiet=; [ "$cc" = clang ] && quiet=-Wno-pass-failed
  $cc -std=c11 -O2 -march=native -g -Wall -Wextra -Wshadow $quiet $omp $(file_flags "$f") -c -o /dev/null "$f" > "$log" 2>&1 ||
    echo "$f: error: $cc $omp exited with status $?" >> "$log"
  [ "$omp" = -fopenmp ] && cc="$cc -fopenmp"
  grep -E "(warning|error):" "$log" | sed "s|^\./||; s|^\([a-z]*/\)*\.\./||; s|: warning: |: |; s|\$| [$cc]|" > "$log.found"
}
export -f compile file_flags
export OUT STB_DIR
for b in "${builds[@]}"; do
  for f in "${files[@]}"; do echo "$f ${b%|*} ${b#*|}"; done
done | xargs -P "$NPROC" -n 3 bash -c 'compile "$@"' _
wait

# ---- report: each finding once (the header is seen through every file that
# includes it), sorted by file and line, with the checks that saw it ---------
[ -f "$OUT/cppcheck.txt" ] || : > "$OUT/cppcheck.txt"
cat "$OUT/cppcheck.txt" "$OUT"/*.found 2> /dev/null |
  awk '{ m = $0; sub(/ \[[^]]*\]$/, "", m); b = substr($0, length(m) + 3, length($0) - length(m) - 3)
         if (!(m in seen)) { order[++n] = m; seen[m] = b } else if (index(", " seen[m] ", ", ", " b ", ") == 0) seen[m] = seen[m] ", " b }
       END { for (i = 1; i <= n; i++) print order[i] " [" seen[order[i]] "]" }' |
  sort -t: -k1,1 -k2,2n > "$OUT/findings.txt"
found=$(wc -l < "$OUT/findings.txt")
cat "$OUT/findings.txt"
for s in "${skipped[@]}"; do echo "lint: skipped: $s"; done
names=$(for b in "${builds[@]}"; do c=${b%|*}; [ "${b#*|}" = -fopenmp ] && c="$c -fopenmp"; printf '%s, ' "$c"; done)
what="${cppcheck_done}-Wall -Wextra -Wshadow builds (${names%, }) of ${#files[@]} files"
if [ "$found" -eq 0 ]; then
  echo "lint: clean: $what"
else
  echo "lint: $found findings (listed above) in $what"
  exit 1
fi
