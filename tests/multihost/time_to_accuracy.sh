#!/usr/bin/env bash
# Time to accuracy, STANZA against PS mode, over shaped links (run by hand
# as root; docs/stanza.md "Time to accuracy", docs/benchmarks.md).
#
#   tests/multihost/time_to_accuracy.sh [--cifar10_dir DIR | --mnist_dir DIR]
#       [--model M | --model_spec SPEC] [--rates "1gbit 10gbit"] [--epochs E | --steps S] [--target 0.85]
#       [--batch B] [--lr LR] [--lr_decay D] [--eval_every N] [--max_test N]
#       [--scaling "1 2 4"] [--scaling_steps S] [--no_tta] [--out DIR]
#       [--plaintext]
#
# Real data: --cifar10_dir (CIFAR-10 binary version) trains the AlexNet-style
# preset (99% of its parameters in FC layers), 12 epochs, target 70%;
# otherwise the MNIST-layout directory --mnist_dir (default Debian's
# Fashion-MNIST, /usr/share/datasets/fashion-mnist) trains LeNet-5 (96% FC),
# 3 epochs, target 85%. --model_spec SPEC takes the network from a job spec
# file's `model_spec { ... }` block instead (e.g. the FC-heavy
# tools/examples/cnn_custom_fashion_mnist.textproto, 4.3M parameters,
# 99.6% FC). Both modes get the same spec but for the mode: same
# model, data, seed, batch, learning rate and schedule, evaluation steps.
#
# Topology (netns_lib.sh): h1 coordinator, h2/h3 ps shards, h4 FC node,
# h5.. conv workers; every host's link shaped with tbf in both directions.
# For each rate, runs STANZA and PS (2 conv workers), alternating which goes
# first, and prints per mode and link: time to the target test accuracy,
# final accuracy, images/s, bytes/step, and STANZA's speed-up in time to
# target against the one the byte ratio predicts (tta_report.py); draws
# $OUT/time_to_accuracy.png. --scaling "1 2 4" then runs short STANZA jobs
# (--scaling_steps, no evaluation) with 1, 2, 4 conv workers on one FC node
# at the first rate and prints images/s and the cost-model inputs (conv
# compute and FC compute per step). Binaries from $STRATA_BIN_DIR (default
# bazel-bin). Never touches the root namespace.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BIN=${STRATA_BIN_DIR:-$REPO/bazel-bin}
CTL=$BIN/tools/stratactl
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=netns_lib.sh
source "$HERE/netns_lib.sh"

MODEL="" MODEL_SPEC="" CIFAR="" MNIST=/usr/share/datasets/fashion-mnist RATES="1gbit 10gbit"
EPOCHS="" STEPS=0 TARGET="" BATCH=64 LR="" DECAY="" EVAL="" MAX_TEST=0
SCALING="" SCALING_STEPS=150 TTA=1 OUT="" PLAINTEXT=0
usage() {
  sed -n '5,11p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
  exit 2
}
while [[ $# -gt 0 ]]; do
  case "$1" in
    --cifar10_dir) CIFAR=$2; shift 2 ;;
    --model) MODEL=$2; shift 2 ;;
    --model_spec) MODEL_SPEC=$2; shift 2 ;;
    --mnist_dir) MNIST=$2; shift 2 ;;
    --rates) RATES=$2; shift 2 ;;
    --epochs) EPOCHS=$2; shift 2 ;;
    --steps) STEPS=$2; shift 2 ;;
    --target) TARGET=$2; shift 2 ;;
    --batch) BATCH=$2; shift 2 ;;
    --lr) LR=$2; shift 2 ;;
    --lr_decay) DECAY=$2; shift 2 ;;
    --eval_every) EVAL=$2; shift 2 ;;
    --max_test) MAX_TEST=$2; shift 2 ;;
    --scaling) SCALING=$2; shift 2 ;;
    --scaling_steps) SCALING_STEPS=$2; shift 2 ;;
    --no_tta) TTA=0; shift ;;
    --out) OUT=$2; shift 2 ;;
    --plaintext) PLAINTEXT=1; shift ;;
    *) usage ;;
  esac
done
if [[ -n $CIFAR ]]; then
  MODEL=${MODEL:-alexnet} DATA="cifar10_dir: \"$CIFAR\"" DATA_DIR=$CIFAR
  : "${EPOCHS:=12}" "${TARGET:=0.70}" "${LR:=0.01}" "${DECAY:=0.85}" "${EVAL:=195}"
else
  MODEL=${MODEL:-lenet5} DATA="mnist_dir: \"$MNIST\"" DATA_DIR=$MNIST
  : "${EPOCHS:=3}" "${TARGET:=0.85}" "${LR:=0.04}" "${DECAY:=0.5}" "${EVAL:=50}"
fi
[[ -d $DATA_DIR ]] || { echo "no data directory $DATA_DIR" >&2; exit 1; }
# The network: a zoo preset by name, or the model_spec block of a job spec.
NET="model: \"$MODEL\""
if [[ -n $MODEL_SPEC ]]; then
  NET=$(python3 - "$MODEL_SPEC" <<'PY'
import re, sys
text = re.sub(r"#[^\n]*", "", open(sys.argv[1]).read())
start = text.find("model_spec")
if start < 0:
    sys.exit("no model_spec block in " + sys.argv[1])
depth, i = 0, text.index("{", start)
for j in range(i, len(text)):
    depth += {"{": 1, "}": -1}.get(text[j], 0)
    if depth == 0:
        print(" ".join(text[start:j + 1].split()))
        break
else:
    sys.exit("unbalanced model_spec block in " + sys.argv[1])
PY
  ) || exit 1
  MODEL=$(basename "$MODEL_SPEC" .textproto)
fi
DATA_DIR=$(cd "$DATA_DIR" && pwd -P)
for b in server/strata_coordinator server/ps_server worker/worker tools/stratactl; do
  [[ -x $BIN/$b ]] || { echo "missing $BIN/$b; run: bazel build //server:strata_coordinator //server:ps_server //worker //tools:stratactl" >&2; exit 1; }
done
if ! why=$(mh_can_run); then
  echo "cannot run: $why" >&2
  exit 1
fi
PY=python3
/usr/bin/python3 -c 'import matplotlib' 2>/dev/null && PY=/usr/bin/python3

MH_DIR=${BENCH_DIR:-/tmp/strata_tta.$$}
OUT=${OUT:-$MH_DIR}
mkdir -p "$MH_DIR" "$OUT"
trap 'mh_cleanup' EXIT
trap 'exit 130' INT TERM

CONV_HOSTS=2
for w in $SCALING; do ((w > CONV_HOSTS)) && CONV_HOSTS=$w; done
NHOSTS=$((4 + CONV_HOSTS))
mh_setup $NHOSTS
mh_cluster "$CONV_HOSTS" "$PLAINTEXT" --data_root="$DATA_DIR" || exit 1
COORD=$MH_COORD

shape_all() {  # shape_all RATE
  local i
  for ((i = 1; i <= NHOSTS; i++)); do mh_shape "$i" "$1"; done
}

# run_job NAME MODE WORKERS TRAINING EVAL -> $OUT/NAME.{textproto,jsonl,json}
run_job() {
  local name=$1 mode=$2 workers=$3 training=$4 eval=$5 fc=1 id t0
  [[ $mode == PS ]] && fc=0
  cat > "$OUT/$name.textproto" <<SPEC
name: "$name"
cnn_train { $NET
            data { $DATA eval_every_steps: $eval max_test: $MAX_TEST }
            mode: $mode num_conv_workers: $workers num_fc_nodes: $fc
            batch_size: $BATCH learning_rate: $LR momentum: 0.9
            weight_decay: 5e-4 lr_epoch_decay: $DECAY $training seed: 1
            step_timeout_s: 300 }
SPEC
  id=$(mh_exec 1 "$CTL" --coordinator="$COORD" submit "$OUT/$name.textproto")
  t0=$SECONDS
  mh_exec 1 timeout 7200 "$CTL" --coordinator="$COORD" --json watch "$id" \
    > "$OUT/$name.jsonl" 2>&1 ||
    { tail -n 5 "$OUT/$name.jsonl" >&2; echo "$name failed" >&2; mh_tail_logs; exit 1; }
  mh_exec 1 "$CTL" --coordinator="$COORD" --json status "$id" > "$OUT/$name.json"
  echo "  $name: done in $((SECONDS - t0)) s"
}

if ((STEPS > 0)); then TRAINING="steps: $STEPS"; else TRAINING="epochs: $EPOCHS"; fi
echo "model $MODEL on $DATA_DIR; 2 conv workers x batch $BATCH; lr $LR x $DECAY per epoch;" \
  "$TRAINING; eval every $EVAL steps; target $TARGET; rates: $RATES"
uptime
if ((TTA)); then
  first=STANZA second=PS
  for rate in $RATES; do
    shape_all "$rate"
    for mode in $first $second; do
      run_job "tta-$rate-$mode" "$mode" 2 "$TRAINING" "$EVAL"
    done
    read -r first second <<<"$second $first"  # alternate the order
  done
  uptime
  "$PY" "$HERE/tta_report.py" --dir "$OUT" --rates "$RATES" --target "$TARGET" \
    --batch "$BATCH" --workers 2 --png "$OUT/time_to_accuracy.png" \
    --title "$MODEL on $(basename "$DATA_DIR"): STANZA vs PS"
fi
if [[ -n $SCALING ]]; then
  rate=${RATES%% *}
  shape_all "$rate"
  MAX_TEST=256  # the one evaluation (after the last step) stays short
  for w in $SCALING; do
    run_job "scale-$w" STANZA "$w" "steps: $SCALING_STEPS" 0
  done
  uptime
  "$PY" "$HERE/tta_report.py" --dir "$OUT" --target "$TARGET" --batch "$BATCH" \
    --scaling "$SCALING" --link "$rate"
fi
echo "specs, events, job status JSON in $OUT; logs in $MH_DIR"
