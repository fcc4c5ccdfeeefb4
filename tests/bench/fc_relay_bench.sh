#!/usr/bin/env bash
# The cost of running tasks in processes (docs/worker.md): the same Stanza
# job on a local cluster whose workers run tasks on threads
# (--task_isolation=thread: the FC node serves StanzaFc in the daemon) and
# in processes (the default: the FC node's daemon relays every batch to the
# FC task's process over a Unix socket), alternated in one run because the
# machine is noisy. Prints images/s per run and the median per mode.
#   tests/bench/fc_relay_bench.sh [--rounds N] [--model alexnet|lenet5]
#                                 [--steps S] [--batch B]
set -euo pipefail
cd "$(dirname "$0")/../.."
rounds=3 model=alexnet steps=30 batch=64
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) rounds=$2; shift 2 ;;
    --model) model=$2; shift 2 ;;
    --steps) steps=$2; shift 2 ;;
    --batch) batch=$2; shift 2 ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
bazel build -c opt //server:all //worker:worker //tools:stratactl >&2
BIN=$(bazel info -c opt bazel-bin 2>/dev/null)
DIR=$(mktemp -d /tmp/fc_relay_bench.XXXXXX)
trap 'deploy/local/cluster.sh down "$DIR/c" >/dev/null 2>&1 || true; rm -rf "$DIR"' EXIT
cat > "$DIR/spec.textproto" <<SPEC
name: "fc-relay-bench"
cnn_train { model: "$model" data { synthetic_train: 2048 synthetic_test: 64 }
            mode: STANZA num_conv_workers: 2 num_fc_nodes: 1
            batch_size: $batch learning_rate: 0.01 steps: $steps }
SPEC

run() {  # run MODE -> images/s of conv worker 0's job
  deploy/local/cluster.sh up "$DIR/c" --ps 2 --workers 0 --conv_workers 2 \
    --fc_nodes 1 --bin_dir "$BIN" --timeout_s 60 \
    --worker_flags "--task_isolation=$1" > /dev/null
  export STRATA_COORDINATOR=$(cat "$DIR/c/coordinator.addr")
  local id
  id=$("$BIN/tools/stratactl" submit "$DIR/spec.textproto")
  "$BIN/tools/stratactl" watch "$id" > /dev/null
  "$BIN/tools/stratactl" --json status "$id" | python3 -c '
import json, sys
m = json.load(sys.stdin)["metrics"]
print("%.1f %.0f" % (m["images_per_s"], m["fc_bytes_per_step"]))'
  deploy/local/cluster.sh down "$DIR/c" > /dev/null
}

echo "model $model, 2 conv workers + 1 FC node, batch $batch, $steps steps, $(nproc) cores"
printf '%-6s %-8s %12s %16s\n' round mode "images/s" "FC bytes/step"
declare -A all
for ((r = 1; r <= rounds; r++)); do
  for mode in thread process; do
    out=$(run "$mode")  # waits for the cluster to be down
    read -r ips bytes <<< "$out"
    printf '%-6s %-8s %12s %16s\n' "$r" "$mode" "$ips" "$bytes"
    all[$mode]="${all[$mode]:-} $ips"
  done
done
for mode in thread process; do
  echo "$mode median: $(tr ' ' '\n' <<< "${all[$mode]}" | grep . | sort -g |
    awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}') images/s"
done
