#!/usr/bin/env bash
# Strata's ps_bench before and after a change, and ps-lite, alternated in one
# run on the workload of ../shared/peers/p3_side_by_side.sh (2 servers + 1
# worker on loopback, 1M keys, 64k sorted keys per batch, 3 s per figure).
#   tests/bench/ps_before_after.sh BEFORE_PS_BENCH [ROUNDS]   (project root)
# BEFORE_PS_BENCH: a ps_bench binary built (-c opt) from the base. Run
# ../shared/peers/p3_side_by_side.sh once first: it builds ps-lite into
# /tmp/pslite-build. Prints `uptime` before and after.
set -eu
BEFORE=$1 R=${2:-2}
PSLITE=/tmp/pslite-build/pslite_fair_bench
[ -x "$PSLITE" ] || { echo "run ../shared/peers/p3_side_by_side.sh first" >&2; exit 1; }
bazel build -c opt //tests/bench:ps_bench >/dev/null 2>&1
AFTER=$(bazel info -c opt bazel-bin 2>/dev/null)/tests/bench/ps_bench
# Bazel's idle server (a JVM) took ~2% of the CPU during runs: stop it.
bazel shutdown 2>/dev/null
pslite() {  # DIM
  ( export DMLC_NUM_SERVER=2 DMLC_NUM_WORKER=1 DMLC_PS_ROOT_URI=127.0.0.1
    export DMLC_PS_ROOT_PORT=$((8100 + RANDOM % 800))
    export DIM=$1 STORE=flat KEYSPACE_BATCHES=16 SECONDS=3
    DMLC_ROLE=scheduler "$PSLITE" & DMLC_ROLE=server "$PSLITE" &
    DMLC_ROLE=server "$PSLITE" & DMLC_ROLE=worker "$PSLITE"; wait ) 2>/dev/null
}
strata() {  # LABEL BINARY
  "$2" --dims=16,64 --keyspace_batches=16 --seconds=3 2>/dev/null |
    grep -E '^(16|64) ' | sed "s/^/$1 dim=/"
}
uptime
for r in $(seq "$R"); do
  echo "--- round $r"
  strata before "$BEFORE"
  strata after "$AFTER"
  for d in 16 64; do pslite "$d"; done
done
uptime
