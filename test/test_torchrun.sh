#!/usr/bin/env bash
# test_torchrun.sh — rendezvous.h under a real torchrun (PyTorch's launcher;
# no GPU, no NCCL): 2 ranks of test/rendezvous_probe.c on this machine, with
# both of torchrun's rendezvous backends:
#   standalone  torchrun --standalone (the c10d backend): torchrun tells the
#               workers TORCHELASTIC_USE_AGENT_STORE=False and a MASTER_PORT it
#               found free: rank 0 must listen on MASTER_PORT itself;
#   static      torchrun --rdzv_backend static --master_port P (torchrun's
#               default backend): its agent store listens on P, the workers get
#               TORCHELASTIC_USE_AGENT_STORE=True and MASTER_PORT=P: rank 0
#               must listen on P + 1.
# For each: torchrun exits 0, ranks 0 and 1 of 2 (local 0 and 1) each print
# the same hash of the 128-byte blob (rank 0's bytes reached rank 1), and the
# environment is what rendezvous.h assumes (the variable, the port, and
# whether MASTER_PORT was taken when rank 0 looked). Every torchrun is wrapped
# in `timeout`: a hang is a FAIL, never a stuck test.
# SKIP lines when torchrun is not installed or cannot start (Debian:
# apt-get install python3-torch). Prints PASS/FAIL/SKIP lines (test/run.sh
# counts them); exits non-zero on failure.
#   PROBE=build/rendezvous_probe bash test/test_torchrun.sh   (make builds PROBE)
cd "$(dirname "$0")/.." || exit 1
PROBE=${PROBE:-build/rendezvous_probe}
failed=0
pass() { echo "PASS $*"; }
fail() { echo "FAIL $1 ${*:2}"; failed=1; }

TR=$(command -v torchrun)
if [ -z "$TR" ]; then echo "SKIP torchrun (skipped: torchrun not installed; apt-get install python3-torch)"; exit 0; fi
# torchrun is a Python script: without torch for its Python it cannot start
if ! timeout 120 "$TR" --help > /dev/null 2>&1; then
  echo "SKIP torchrun (skipped: $TR cannot start: is torch installed for its Python?)"; exit 0
fi
if [ ! -x "$PROBE" ] && ! make -s BUILD="$(dirname "$PROBE")" "$PROBE" > /dev/null; then
  fail torchrun_probe_builds "(make $PROBE failed)"; exit 1
fi
PROBE=$(cd "$(dirname "$PROBE")" && pwd)/$(basename "$PROBE")
D=$(mktemp -d "${TMPDIR:-/tmp}/test_torchrun.XXXXXX") || exit 1
trap 'rm -rf "$D"' EXIT
# torchrun's log folders go under $D; the ranks give up on their own after
# 60 s; one OpenMP thread (torchrun says so otherwise); a UT_RENDEZVOUS from
# the caller's environment would take the file route instead of TCP
export TMPDIR=$D UT_RENDEZVOUS_TIMEOUT=60 OMP_NUM_THREADS=1
unset UT_RENDEZVOUS

# run_case NAME AGENT_STORE MASTER_PORT TORCHRUN_OPTIONS...: 2 ranks of the
# probe under torchrun with these options, then the checks. AGENT_STORE: the
# TORCHELASTIC_USE_AGENT_STORE expected; MASTER_PORT: the one expected ("" if
# torchrun picks it).
run_case() {
  local name=$1 agent=$2 want_mp=$3 log=$D/$1.log note="" rc t0 t
  shift 3
  t0=$(date +%s%N)
  timeout -k 10 120 "$TR" "$@" --no_python "$PROBE" > "$log" 2>&1; rc=$?
  # torch 1.13 on Python 3.11 (Debian's python3-torch): Std.from_str("0"),
  # the default of --redirects and --tee, returns None, and torchrun fails
  # before starting any worker. A mapping for a local rank that does not
  # exist leaves ranks 0 and 1 at "no redirection", the default meant.
  if [ "$rc" -ne 0 ] && grep -q "object has no attribute 'get'" "$log"; then
    note="; with --redirects 9:0 --tee 9:0 (torch 1.13's --redirects default fails on Python 3.11)"
    t0=$(date +%s%N)
    timeout -k 10 120 "$TR" "$@" --redirects 9:0 --tee 9:0 --no_python "$PROBE" > "$log" 2>&1; rc=$?
  fi
  t=$(awk -v a="$t0" -v b="$(date +%s%N)" 'BEGIN { printf "%.1f", (b - a) / 1e9 }')
  local r0 r1
  r0=$(grep -o 'rank 0 of .*' "$log" | head -1)
  r1=$(grep -o 'rank 1 of .*' "$log" | head -1)
  local why
  why=$(grep -o 'rank [0-9] of .*\|rendezvous_probe: .*\|[A-Za-z]*Error: .*' "$log" | head -4 | tr '\n' '|')
  why="rc $rc, $t s: ${why:-no probe line; torchrun said: $(tail -1 "$log")}"
  if [ "$rc" -ne 0 ] || [ -z "$r0" ] || [ -z "$r1" ]; then
    fail "torchrun_${name}_ranks_meet" "($why)"
    fail "torchrun_${name}_port_rule" "(no result: the ranks did not both report)"
    return
  fi
  # the fields of a probe line
  hash() { sed -n 's/.*: blob \([0-9a-f]*\) .*/\1/p' <<< "$1"; }
  port() { sed -n 's/.* port \([0-9]*\) (.*/\1/p' <<< "$1"; }
  field() { sed -n "s/.* $2=\\([^ ]*\\).*/\\1/p" <<< "$1"; }
  local h0 h1
  h0=$(hash "$r0"); h1=$(hash "$r1")
  if [[ "$r0" == "rank 0 of 2 local 0 of 2:"* && "$r1" == "rank 1 of 2 local 1 of 2:"* && -n "$h0" && "$h0" = "$h1" ]]; then
    pass "torchrun_${name}_ranks_meet (ranks 0 and 1 of 2, local 0 and 1, both hold blob $h0; $t s$note)"
  else
    fail "torchrun_${name}_ranks_meet" "($why)"
  fi
  # the port rule, and the environment it rests on
  local mp a0 a1 p0 p1 fr want_port want_free
  mp=$(field "$r0" MASTER_PORT); a0=$(field "$r0" TORCHELASTIC_USE_AGENT_STORE); a1=$(field "$r1" TORCHELASTIC_USE_AGENT_STORE)
  p0=$(port "$r0"); p1=$(port "$r1"); fr=$(field "$r0" master_port_free)
  if [ "$agent" = True ]; then want_port=$((mp + 1)) want_free=no; else want_port=$mp want_free=yes; fi
  local detail="TORCHELASTIC_USE_AGENT_STORE=$a0 MASTER_PORT=$mp, rank 0 listened on port $p0 and rank 1 connected to $p1, MASTER_PORT free before: $fr"
  if [ "$a0" = "$agent" ] && [ "$a1" = "$agent" ] && [ -n "$mp" ] && { [ -z "$want_mp" ] || [ "$mp" = "$want_mp" ]; } &&
     [ "$p0" = "$want_port" ] && [ "$p1" = "$want_port" ] && [ "$fr" = "$want_free" ] &&
     [ "$(field "$r1" MASTER_PORT)" = "$mp" ]; then
    pass "torchrun_${name}_port_rule ($detail)"
  else
    fail "torchrun_${name}_port_rule" "(expected TORCHELASTIC_USE_AGENT_STORE=$agent${want_mp:+ MASTER_PORT=$want_mp}, port $want_port, free before: $want_free; got $detail)"
  fi
}

# 1. --standalone: the c10d backend, its store on localhost:29400 (fixed in
#    torch 1.13). Another job holding 29400 would make it fail for reasons of
#    its own: then the same backend on a free port.
if (exec 3<> /dev/tcp/127.0.0.1/29400) 2> /dev/null; then
  echo "note: port 29400 (--standalone's store) is in use here: --rdzv_backend c10d on a free port instead"
  run_case standalone False "" --rdzv_backend c10d --rdzv_endpoint "127.0.0.1:$("$PROBE" --free-port)" \
    --nnodes 1 --nproc_per_node 2 --monitor_interval 1
else
  run_case standalone False "" --standalone --nnodes 1 --nproc_per_node 2 --monitor_interval 1
fi

# 2. the static backend: torchrun's agent store on MASTER_PORT (P; P + 1 free too)
P=$("$PROBE" --free-port) || { fail torchrun_free_port "(no free port pair)"; exit 1; }
run_case static True "$P" --nnodes 1 --nproc_per_node 2 --monitor_interval 1 \
  --rdzv_backend static --master_addr 127.0.0.1 --master_port "$P"

exit $failed
