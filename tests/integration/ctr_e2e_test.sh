#!/usr/bin/env bash
# CTR end to end on loopback with real processes (deploy/local/cluster.sh):
# generate a small planted-model click log (plus a few malformed lines),
# train on 2 workers through stratactl, evaluate, restart the shards with
# --compress=saec (they reload the training checkpoint and compress it), and
# evaluate again. Checks: AUC clearly above chance, malformed lines counted,
# the eval job reproduces the training job's held-out numbers, compression
# shrinks the table and keeps AUC within 0.01 and log loss within 0.01.
set -euo pipefail

source "${TEST_SRCDIR:-$PWD/..}/strata/tests/integration/lib.sh"
e2e_dir ctr_e2e
metric() {  # metric STATUS_JSON NAME
  python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["metrics"].get(sys.argv[2], "missing"))' "$1" "$2"
}
run_job() {  # run_job SPEC OUT: submit, watch, save status; fail on error
  local id
  id=$("$CTL" submit "$1") || fail "submit $1"
  "$CTL" watch "$id" > "$2.watch" 2>&1 || { cat "$2.watch"; fail "job $id ($1) did not succeed"; }
  "$CTL" --json status "$id" > "$2.json"
}

step "generate 60000 rows and 3 malformed lines"
mkdir -p "$DIR/inputs"  # the workers' --data_root (cluster.sh)
"$BIN/tools/ctr/ctr_datagen" --out="$DIR/inputs/ctr.tsv" --rows=60000 --max_vocab=20000 \
  --groups=20 --seed=4 > "$DIR/datagen.out"
cat "$DIR/datagen.out"
{ head -n 100 "$DIR/inputs/ctr.tsv"; echo "1	not	enough	columns"; echo "garbage";
  echo "2$(head -n 1 "$DIR/inputs/ctr.tsv" | cut -c2-)"; tail -n +101 "$DIR/inputs/ctr.tsv"; } > "$DIR/inputs/mixed.tsv"

cat > "$DIR/train.textproto" <<SPEC
name: "ctr-e2e-train" num_workers: 2
ctr_train { data_path: "$DIR/inputs/mixed.tsv" eval_fraction: 0.1 epochs: 2 batch_size: 512
            model { table: "ctr" embedding_dim: 16 } checkpoint_id: 42 }
SPEC
cat > "$DIR/eval.textproto" <<SPEC
name: "ctr-e2e-eval"
ctr_eval { data_path: "$DIR/inputs/mixed.tsv" eval_fraction: 0.1 model { table: "ctr" embedding_dim: 16 } }
SPEC

cluster_up --ps 2 --workers 2

step "CTR_TRAIN on 2 workers"
run_job "$DIR/train.textproto" "$DIR/train"
auc=$(metric "$DIR/train.json" auc)
echo "train: auc=$auc logloss=$(metric "$DIR/train.json" logloss) examples=$(metric "$DIR/train.json" examples) malformed=$(metric "$DIR/train.json" malformed_lines)"
python3 -c "import sys; sys.exit(0 if $auc > 0.65 else 1)" || fail "AUC $auc is not clearly above 0.5"
python3 -c "import sys; sys.exit(0 if $(metric "$DIR/train.json" malformed_lines) == 3 else 1)" || fail "malformed lines not counted"
ls "$DIR"/data/ckpt-*42/shard-0000{0,1}-of-00002.ckpt > /dev/null || fail "no checkpoint 42"

step "CTR_EVAL reproduces the held-out numbers"
run_job "$DIR/eval.textproto" "$DIR/before"
python3 - "$DIR/train.json" "$DIR/before.json" <<'PY' || fail "eval disagrees with training"
import json, sys
t, e = (json.load(open(p))["metrics"] for p in sys.argv[1:3])
assert abs(t["auc"] - e["auc"]) < 1e-9 and abs(t["logloss"] - e["logloss"]) < 1e-9, (t, e)
PY

step "restart the shards with Saec compression; evaluate again"
"$CLUSTER" down "$DIR" > /dev/null
cluster_up --ps 2 --workers 1 \
  --ps_flags "--compress=saec --saec=clusters:32,min_features:200"
"$CTL" --json stats --table=ctr > "$DIR/stats.json"
run_job "$DIR/eval.textproto" "$DIR/after"
python3 - "$DIR/before.json" "$DIR/after.json" "$DIR/stats.json" <<'PY' || fail "compressed model out of tolerance"
import json, sys
b, a = (json.load(open(p))["metrics"] for p in sys.argv[1:3])
rows = [r for r in json.load(open(sys.argv[3]))["fields"] if r["table"] == "ctr"]
before = sum(int(r["bytes_before"]) for r in rows)
after = sum(int(r["bytes_after"]) for r in rows)
print("bytes %d -> %d (%.1fx); AUC %.4f -> %.4f; log loss %.4f -> %.4f" % (
    before, after, before / after, b["auc"], a["auc"], b["logloss"], a["logloss"]))
assert any(r["method"] == "saec" for r in rows), rows
assert before / after > 2, (before, after)
assert a["auc"] > b["auc"] - 0.01, (b, a)
assert a["logloss"] < b["logloss"] + 0.01, (b, a)
PY
echo "PASS"
