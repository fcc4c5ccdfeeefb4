#!/usr/bin/env bash
# Dense tensors, Strata against ps-lite, alternated in one run (issue 16;
# docs/benchmarks.md, "Dense tensors against ps-lite"): pull and push GB/s
# of a FLOATS-float tensor (default 16M) spread over 2 servers. Strata:
# //tests/bench:dense_bench --shards=2 (2 forked shards, the tensor as 2
# dense tensors of FLOATS/2, one per shard, moved in parallel, ASYNC SGD).
# ps-lite: tests/bench/peers/pslite_latency_bench.cc MODE=dense (2 servers
# + 1 worker process, the floats as FLOATS/CHUNK keys of CHUNK floats, half
# in each server's key range, SGD). SECONDS per figure. Prints every round,
# the medians and `uptime` at both ends.
#   tests/bench/dense_side_by_side.sh [--rounds N] [--floats N]
#       [--chunk N] [--seconds S] [--pslite_src DIR] [--build_dir DIR]
#       [--strata_bin PATH]
# ps-lite's sources and --strata_bin as in latency_side_by_side.sh.
set -euo pipefail
cd "$(dirname "$0")/../.."
rounds=3 floats=16777216 chunk=65536 seconds=3
pslite_src= build_dir=/tmp/pslite-i16-bench strata=
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) rounds=$2; shift 2 ;;
    --floats) floats=$2; shift 2 ;;
    --chunk) chunk=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    --pslite_src) pslite_src=$2; shift 2 ;;
    --build_dir) build_dir=$2; shift 2 ;;
    --strata_bin) strata=$2; shift 2 ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
source tests/bench/peers/pslite_lib.sh
side_by_side_setup "$pslite_src" "$build_dir" "$strata" dense_bench
strata=$STRATA_BIN

echo "uptime at start: $(uptime)"
echo "$floats floats over 2 servers, ${seconds}s per figure, ps-lite keys of $chunk floats, $(nproc) cores"
fmt='%-6s %-7s %-5s %10s %8s\n'
printf "$fmt" round system op "calls/s" "GB/s"
declare -A gbs
row() {  # ROUND SYSTEM OP CALLS_PER_S
  local g
  g=$(awk -v c="$4" -v f="$floats" 'BEGIN {printf "%.3f", c * f * 4 / 1e9}')
  printf "$fmt" "$1" "$2" "$3" "$4" "$g"
  gbs[$2/$3]="${gbs[$2/$3]:-} $g"
}
for ((r = 1; r <= rounds; r++)); do
  out=$("$strata" --sizes="$floats" --shards=2 --seconds="$seconds" 2>/dev/null) ||
    { echo "dense_bench failed in round $r" >&2; exit 1; }
  while read -r _ op calls _; do
    row "$r" strata "$op" "$calls"
  done < <(grep -E "^ *$floats (pull|push) " <<< "$out")
  out=$(pslite_run MODE=dense FLOATS="$floats" CHUNK="$chunk" SECONDS="$seconds")
  line=$(grep '^pslite dense ' <<< "$out") || { echo "no ps-lite figures" >&2; exit 1; }
  for op in pull push; do
    row "$r" ps-lite "$op" "$(sed -E "s/.* ${op}_calls_per_s=([^ ]+).*/\1/" <<< "$line")"
  done
done
echo "medians of $rounds rounds (GB/s of floats):"
printf '%-5s %8s %8s %8s\n' op strata ps-lite ratio
for op in pull push; do
  for s in strata ps-lite; do
    [ -n "${gbs[$s/$op]:-}" ] || { echo "no figures for $s $op" >&2; exit 1; }
  done
  a=$(median <<< "${gbs[strata/$op]}") b=$(median <<< "${gbs[ps-lite/$op]}")
  printf '%-5s %8s %8s %8.2f\n' "$op" "$a" "$b" "$(awk -v a="$a" -v b="$b" 'BEGIN {print a / b}')"
done
echo "uptime at end: $(uptime)"
