#!/usr/bin/env bash
# The main demo: CTR training on the parameter server, then Saec compression
# of the embedding table and its effect on AUC and log loss. On a local
# cluster over loopback:
#   1. installs what is missing (tools/setup.sh) and builds (bazel -c opt);
#   2. generates a Criteo-layout click log from a planted model;
#   3. starts a coordinator, 2 parameter-server shards and the workers;
#   4. CTR_TRAIN through stratactl (streams loss and examples/s; ends with
#      AUC/log loss on the held-out 10% and a checkpoint);
#   5. CTR_EVAL of the trained model;
#   6. restarts the shards with --compress=saec: they reload the checkpoint
#      and compress every field at start-up;
#   7. CTR_EVAL again, then prints vectors, bytes, ratio, AUC and log loss
#      before and after, and writes a PNG (per-field ratio, training curve).
# Sizes (environment): CTR_ROWS (default 1000000), CTR_WORKERS (1),
# CTR_DIM (16, the common CTR size; the minimal-perfect-hash key index keeps
# the ratio high there, see docs/saec.md), CTR_VOCAB (largest field's
# vocabulary, 1000000),
# CTR_CLUSTERS (per field and shard, 64), CTR_EPOCHS (1).
# Logs and data stay in $STRATA_DEMO_DIR (default /tmp/strata-demo).
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd)
DIR=${STRATA_DEMO_DIR:-/tmp/strata-demo}
ROWS=${CTR_ROWS:-1000000}
WORKERS=${CTR_WORKERS:-1}
DIM=${CTR_DIM:-16}
VOCAB=${CTR_VOCAB:-1000000}
CLUSTERS=${CTR_CLUSTERS:-64}
EPOCHS=${CTR_EPOCHS:-1}

tools/setup.sh
echo "=== building"
bazel build -c opt //server:ps_server //server:coordinator //worker:worker \
  //tools:stratactl //tools/ctr:ctr_datagen 2>&1 | tail -2
# bazel-bin follows the last build of any configuration; pin this one.
BIN=$(bazel info -c opt bazel-bin 2>/dev/null || echo "$REPO/bazel-bin")
[ -x "$BIN/tools/stratactl" ] || BIN="$REPO/bazel-bin"
CTL="$BIN/tools/stratactl"

CLUSTER=deploy/local/cluster.sh
"$CLUSTER" down "$DIR" >/dev/null 2>&1 || true
rm -rf "$DIR"
mkdir -p "$DIR/specs" "$DIR/inputs"  # inputs: the workers' --data_root (cluster.sh)
trap '"$CLUSTER" down "$DIR" >/dev/null 2>&1 || true' EXIT

echo "=== generating $ROWS rows (Criteo layout, planted model) into $DIR/inputs/ctr.tsv"
"$BIN/tools/ctr/ctr_datagen" --out="$DIR/inputs/ctr.tsv" --rows="$ROWS" \
  --max_vocab="$VOCAB" --seed=1

cat > "$DIR/specs/train.textproto" <<SPEC
name: "ctr-train"
num_workers: $WORKERS
ctr_train {
  data_path: "$DIR/inputs/ctr.tsv"
  eval_fraction: 0.1
  model { table: "ctr" embedding_dim: $DIM hidden: [64, 32] }
  epochs: $EPOCHS
  batch_size: 1024
  checkpoint_id: 1
}
SPEC
cat > "$DIR/specs/eval.textproto" <<SPEC
name: "ctr-eval"
ctr_eval {
  data_path: "$DIR/inputs/ctr.tsv"
  eval_fraction: 0.1
  model { table: "ctr" embedding_dim: $DIM hidden: [64, 32] }
}
SPEC

# Submits SPEC, follows it (JSON lines to OUT.jsonl) and saves its final
# status to OUT.json; exits on failure.
run_job() {
  local spec="$1" out="$2" id rc
  id=$("$CTL" submit "$spec")
  echo "--- $id: $(basename "$spec")"
  set +e
  "$CTL" watch --json "$id" > "$out.jsonl"; rc=$?
  set -e
  "$CTL" --json status "$id" > "$out.json"
  python3 -c 'import json,sys; s=json.load(open(sys.argv[1])); print("   ", s["state"], " ".join("%s=%.5g" % kv for kv in sorted(s["metrics"].items())))' "$out.json"
  if [ $rc -ne 0 ]; then
    echo "demo: job $id did not succeed; logs in $DIR" >&2
    exit $rc
  fi
}

echo "=== starting a local cluster in $DIR (coordinator, 2 shards, $WORKERS workers)"
"$CLUSTER" up "$DIR" --ps 2 --workers "$WORKERS" --bin_dir "$BIN"
source "$DIR/env"  # STRATA_COORDINATOR and the admin certificate (mutual TLS)

echo "=== CTR_TRAIN ($WORKERS worker(s), dim $DIM, $EPOCHS epoch(s); 10% held out)"
run_job "$DIR/specs/train.textproto" "$DIR/train"
echo "=== CTR_EVAL of the trained model"
run_job "$DIR/specs/eval.textproto" "$DIR/eval_before"
"$CTL" tables

echo "=== restarting the shards with --compress=saec --saec=clusters:$CLUSTERS"
"$CLUSTER" down "$DIR" >/dev/null
"$CLUSTER" up "$DIR" --ps 2 --workers 1 --bin_dir "$BIN" --timeout_s 300 \
  --ps_flags "--compress=saec --saec=clusters:$CLUSTERS"
source "$DIR/env"  # STRATA_COORDINATOR and the admin certificate (mutual TLS)
"$CTL" stats --table=ctr | tail -4
"$CTL" --json stats --table=ctr > "$DIR/stats.json"

echo "=== CTR_EVAL of the compressed model"
run_job "$DIR/specs/eval.textproto" "$DIR/eval_after"

echo "=== before / after Saec (table ctr, d = $DIM, $CLUSTERS clusters per field and shard)"
# Debian's python3 has python3-matplotlib (tools/setup.sh); a python3 earlier
# on PATH (pyenv, venv) may not.
PY=python3
if [ -x /usr/bin/python3 ] && /usr/bin/python3 -c 'import matplotlib' 2>/dev/null; then
  PY=/usr/bin/python3
fi
"$PY" tools/ctr/plot_ctr.py --stats "$DIR/stats.json" --train "$DIR/train.jsonl" \
  --before "$DIR/eval_before.json" --after "$DIR/eval_after.json" \
  --table ctr --png "$DIR/ctr_demo.png"

echo "=== stopping the cluster"
"$CLUSTER" down "$DIR"

# Stanza (docs/stanza.md): LeNet-5 on real images with 2 conv workers + 1
# FC node, then the same job in PS mode; prints accuracy, bytes per step and
# images/s of each. Data, first found: Fashion-MNIST from Debian's
# dataset-fashion-mnist (tools/setup.sh installs it; $FASHION_DIR), MNIST
# from $MNIST_DIR, else synthetic images (whose 100% says nothing).
FASHION_DIR=${FASHION_DIR:-/usr/share/datasets/fashion-mnist}
MNIST_DIR=${MNIST_DIR:-$REPO/../shared/data/mnist}
STANZA_STEPS=${STANZA_STEPS:-400}
echo "=== Stanza: 2 conv workers + 1 FC node vs PS mode ($STANZA_STEPS steps)"
DATA='data { synthetic_train: 8192 synthetic_test: 1024 }'
DATA_NOTE="synthetic images (no Fashion-MNIST at $FASHION_DIR, no MNIST at $MNIST_DIR; tools/setup.sh installs dataset-fashion-mnist)"
ROOTS=()
has_idx() { [ -f "$1/train-labels-idx1-ubyte" ] || [ -f "$1/train-labels-idx1-ubyte.gz" ]; }
for CAND in "fashion:$FASHION_DIR" "mnist:$MNIST_DIR"; do
  KIND=${CAND%%:*}; IDX_DIR=${CAND#*:}
  has_idx "$IDX_DIR" || continue
  # Workers read job inputs only under their --data_root (resolved paths).
  IDX_DIR=$(realpath "$IDX_DIR")
  ROOTS=(--data_root "$IDX_DIR")
  # Test accuracy every 100 steps, streamed to `stratactl watch`.
  DATA="data { mnist_dir: \"$IDX_DIR\" eval_every_steps: 100 }"
  if [ "$KIND" = fashion ]; then
    DATA_NOTE="Fashion-MNIST from $IDX_DIR (60000 train, 10000 test images)"
  else
    DATA_NOTE="MNIST from $IDX_DIR"
  fi
  break
done
"$CLUSTER" up "$DIR" --ps 2 --workers 0 --conv_workers 2 --fc_nodes 1 \
  --bin_dir "$BIN" --timeout_s 300 "${ROOTS[@]+"${ROOTS[@]}"}"
source "$DIR/env"  # STRATA_COORDINATOR and the admin certificate (mutual TLS)
echo "data: $DATA_NOTE"
for MODE in STANZA PS; do
  FC=1; [ "$MODE" = PS ] && FC=0
  cat > "$DIR/specs/cnn_$MODE.textproto" <<SPEC
name: "demo-cnn-$MODE"
cnn_train { model: "lenet5" $DATA mode: $MODE num_conv_workers: 2
            num_fc_nodes: $FC batch_size: 64 learning_rate: 0.02
            weight_decay: 0.0005 steps: $STANZA_STEPS }
SPEC
  ID=$("$CTL" submit "$DIR/specs/cnn_$MODE.textproto")
  "$CTL" watch "$ID" | tail -n 3
  "$CTL" --json status "$ID" > "$DIR/cnn_$MODE.json"
done
python3 - "$DIR/cnn_STANZA.json" "$DIR/cnn_PS.json" <<'PY'
import json, sys
rows = [(n, json.load(open(f))["metrics"]) for n, f in zip(("STANZA", "PS"), sys.argv[1:3])]
print("bytes per step, by role: conv workers (all of them, to shards and FC")
print("nodes) and FC nodes (to conv workers); compute/comm: summed over workers")
print("%-7s %9s %10s %16s %16s %10s %10s" % ("mode", "test acc", "images/s",
      "workers B/step", "FC nodes B/step", "compute s", "comm s"))
for n, m in rows:
    fc = m.get("fc_bytes_per_step")
    print("%-7s %9.4f %10.0f %16.0f %16s %10.1f %10.1f" % (n, m["test_accuracy"],
          m["images_per_s"], m["worker_bytes_per_step"],
          "%.0f" % fc if fc is not None else "-",
          m["worker_compute_s"], m["worker_comm_s"]))
print("PS / STANZA bytes per step: %.1fx" % (rows[1][1]["worker_bytes_per_step"] / rows[0][1]["worker_bytes_per_step"]))
PY
"$CLUSTER" down "$DIR" >/dev/null
trap - EXIT
echo "demo: OK (logs, data and $DIR/ctr_demo.png in $DIR)"
