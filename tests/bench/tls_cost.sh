#!/usr/bin/env bash
# The cost of mutual TLS (issue 13; docs/benchmarks.md, "Cost of mutual
# TLS"), plaintext and TLS alternated in one run because the machine is
# noisy:
#   1. ps_bench (2 forked shard processes + 1 worker on loopback, 64k-key
#      batches from 1M keys, dims 16 and 64) without and with --tls, ROUNDS
#      times each: keys/s of pull and push and the CPU time per key (worker
#      and shards) per run, the medians and the TLS/plaintext ratios;
#   2. worker/cnn:stanza_tls_benchmark: a Stanza AlexNet-style job (2 conv
#      workers + 1 FC node, batch 64, in one process), plaintext and TLS
#      alternated ROUNDS times: ms per step, CPU s per job, the medians.
#   tests/bench/tls_cost.sh [--rounds N] [--seconds S] [--steps S]
#                           [--model alexnet|lenet5] [--skip_ps] [--skip_stanza]
set -euo pipefail
cd "$(dirname "$0")/../.."
rounds=5 seconds=3 steps=10 model=alexnet ps=1 stanza=1
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) rounds=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    --steps) steps=$2; shift 2 ;;
    --model) model=$2; shift 2 ;;
    --skip_ps) ps=0; shift ;;
    --skip_stanza) stanza=0; shift ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
bazel build -c opt //tests/bench:ps_bench //worker/cnn:stanza_tls_benchmark >&2
BIN=$(bazel info -c opt bazel-bin 2>/dev/null)
echo "$(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg) at start"

median() { tr ' ' '\n' | grep . | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

if [ "$ps" = 1 ]; then
  echo "== ps_bench: keys/s, $rounds rounds, ${seconds}s per figure"
  printf '%-6s %-10s %-4s %-5s %14s %12s\n' round mode dim op "keys/s" "CPU us/key"
  declare -A all cpu
  for ((r = 1; r <= rounds; r++)); do
    for mode in plaintext mTLS; do
      flag=--tls=false
      [ "$mode" = mTLS ] && flag=--tls
      while read -r dim op kps _ us; do
        printf '%-6s %-10s %-4s %-5s %14s %12s\n' "$r" "$mode" "$dim" "$op" "$kps" "$us"
        all[$mode/$dim/$op]="${all[$mode/$dim/$op]:-} $kps"
        cpu[$mode/$dim/$op]="${cpu[$mode/$dim/$op]:-} $us"
      done < <("$BIN/tests/bench/ps_bench" --dims=16,64 --seconds="$seconds" \
                 --cpu "$flag" 2>/dev/null | grep -E '^(16|64) ')
    done
  done
  ratio() { awk -v a="$1" -v b="$2" 'BEGIN {print a / b}'; }
  echo "medians:"
  printf '%-4s %-5s %12s %12s %8s %10s %10s %8s\n' dim op "plain keys/s" \
    "mTLS keys/s" ratio "plain us/k" "mTLS us/k" ratio
  for dim in 16 64; do
    for op in pull push; do
      p=$(median <<< "${all[plaintext/$dim/$op]}")
      t=$(median <<< "${all[mTLS/$dim/$op]}")
      pc=$(median <<< "${cpu[plaintext/$dim/$op]}")
      tc=$(median <<< "${cpu[mTLS/$dim/$op]}")
      printf '%-4s %-5s %12s %12s %8.3f %10s %10s %8.3f\n' "$dim" "$op" \
        "$p" "$t" "$(ratio "$t" "$p")" "$pc" "$tc" "$(ratio "$tc" "$pc")"
    done
  done
fi

if [ "$stanza" = 1 ]; then
  echo "== Stanza step time, $rounds rounds"
  "$BIN/worker/cnn/stanza_tls_benchmark" --rounds="$rounds" --steps="$steps" \
    --model="$model" 2>/dev/null
fi
echo "load average $(cut -d' ' -f1-3 /proc/loadavg) at the end"
