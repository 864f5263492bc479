#!/usr/bin/env bash
# lessons/09-model/check.sh IMPL — builds check.c against IMPL.c (exercise or
# solution) and runs it with a temporary folder for the token file that its
# `./train --dry-run` calls read (removed afterwards).
set -u
impl=$1
out=$BUILD/lessons/09-$impl
# shellcheck disable=SC2086
if ! $CC $CFLAGS -I. -DLESSON_IMPL="\"$impl.c\"" -o "$out" "$LESSON_DIR/check.c" -lm; then
  echo "FAIL lesson_09_builds $LESSON_DIR/$impl.c does not compile (the errors are above)"
  exit 1
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# one thread: the models here are tiny, and OpenMP threads cost more than they save
OMP_NUM_THREADS=1 "$out" "$tmp"
