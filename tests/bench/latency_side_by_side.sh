#!/usr/bin/env bash
# p50/p99 of a 1,000-key pull, Strata against ps-lite, alternated in one run
# (issue 16; docs/benchmarks.md, "Pull latency against ps-lite"). Each
# round runs //tests/bench:pull_latency_bench (2 forked shards, plain and
# Saec-compressed tables) and then tests/bench/peers/pslite_latency_bench.cc
# (ps-lite: 2 servers + 1 worker process) on the same workload: 1M keys of
# dim 16 created before timing, PULLS pulls of 1,000 random keys one at a
# time, the servers idle and under a concurrent push load of 64k-key
# batches from a second client (ps-lite: a second KVWorker). Prints every
# round, the medians per (system, table, load) and `uptime` at both ends.
#   tests/bench/latency_side_by_side.sh [--rounds N] [--pulls N]
#       [--rows N] [--push_batch N] [--pslite_src DIR] [--build_dir DIR]
#       [--strata_bin PATH]
# Run from anywhere in the project; ps-lite's sources default to
# ../shared/peers/ps-lite next to the project root (or to the main checkout
# of this git worktree). --strata_bin: a built
# pull_latency_bench (default: bazel build -c opt). Needs libzmq3-dev.
set -euo pipefail
cd "$(dirname "$0")/../.."
rounds=3 pulls=2000 rows=1048576 push_batch=65536
pslite_src= build_dir=/tmp/pslite-i16-bench strata=
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) rounds=$2; shift 2 ;;
    --pulls) pulls=$2; shift 2 ;;
    --rows) rows=$2; shift 2 ;;
    --push_batch) push_batch=$2; shift 2 ;;
    --pslite_src) pslite_src=$2; shift 2 ;;
    --build_dir) build_dir=$2; shift 2 ;;
    --strata_bin) strata=$2; shift 2 ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
source tests/bench/peers/pslite_lib.sh
side_by_side_setup "$pslite_src" "$build_dir" "$strata" pull_latency_bench
strata=$STRATA_BIN

echo "uptime at start: $(uptime)"
echo "$rows rows of dim 16, 1000-key pulls, $pulls per figure, push load of $push_batch-key batches, $(nproc) cores"
fmt='%-6s %-7s %-6s %-10s %9s %9s %9s %14s\n'
printf "$fmt" round system table load "p50 ms" "p99 ms" "max ms" "pushed keys/s"
declare -A p50 p99
record() {  # ROUND SYSTEM < "table load... p50 p99 max pushed" lines
  local table l1 l2 a b c d load
  while read -r table l1 l2 a b c d; do
    if [ "$l1" = idle ]; then load=idle; d=$c c=$b b=$a a=$l2; else load="push load"; fi
    printf "$fmt" "$1" "$2" "$table" "$load" "$a" "$b" "$c" "$d"
    p50[$2/$table/$load]="${p50[$2/$table/$load]:-} $a"
    p99[$2/$table/$load]="${p99[$2/$table/$load]:-} $b"
  done
}
for ((r = 1; r <= rounds; r++)); do
  out=$("$strata" --rows="$rows" --pulls="$pulls" --push_batch="$push_batch" 2>/dev/null) ||
    { echo "pull_latency_bench failed in round $r" >&2; exit 1; }
  record "$r" strata < <(grep -E '^(plain|saec) ' <<< "$out")
  out=$(pslite_run MODE=latency DIM=16 ROWS="$rows" PULLS="$pulls" PUSH_BATCH="$push_batch")
  record "$r" ps-lite < <(grep -E '^plain ' <<< "$out")
done
echo "medians of $rounds rounds:"
printf '%-7s %-6s %-10s %9s %9s\n' system table load "p50 ms" "p99 ms"
for key in strata/plain/idle "strata/plain/push load" ps-lite/plain/idle \
    "ps-lite/plain/push load" strata/saec/idle "strata/saec/push load"; do
  [ -n "${p50[$key]:-}" ] || { echo "no figures for $key" >&2; exit 1; }
  IFS=/ read -r s t l <<< "$key"
  printf '%-7s %-6s %-10s %9s %9s\n' "$s" "$t" "$l" \
    "$(median <<< "${p50[$key]}")" "$(median <<< "${p99[$key]}")"
done
echo "uptime at end: $(uptime)"
