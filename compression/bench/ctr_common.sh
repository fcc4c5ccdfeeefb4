# Shared by the CTR benchmark scripts of compression/bench (sourced, not
# run): the demo's data, its train and eval specs, one training run. Needs
# BIN (the -c opt bazel-bin), CTL (its stratactl) and CLUSTER
# (deploy/local/cluster.sh).

run_job() {  # SPEC OUT: submits, waits, saves the final status as OUT.json
  local id
  id=$("$CTL" submit "$1")
  "$CTL" watch --json "$id" > "$2.jsonl" || { echo "job $id failed" >&2; exit 1; }
  "$CTL" --json status "$id" > "$2.json"
}

# ctr_train DIR ROWS DIM: a fresh DIR with ROWS generated rows and the
# train/eval specs at dimension DIM; trains once on 2 shards (checkpoint
# 1), evaluates (DIR/eval_before.json) and keeps the trained data in
# DIR/data.trained.
ctr_train() {
  local dir=$1 rows=$2 dim=$3 kind extra
  rm -rf "$dir"
  mkdir -p "$dir/specs" "$dir/inputs"
  "$BIN/tools/ctr/ctr_datagen" --out="$dir/inputs/ctr.tsv" --rows="$rows" \
    --max_vocab=1000000 --seed=1 >/dev/null
  for kind in train eval; do
    extra=""
    [ $kind = train ] && extra="epochs: 1 batch_size: 1024 checkpoint_id: 1"
    cat > "$dir/specs/$kind.textproto" <<SPEC
name: "ctr-$kind"
ctr_$kind {
  data_path: "$dir/inputs/ctr.tsv"
  eval_fraction: 0.1
  model { table: "ctr" embedding_dim: $dim hidden: [64, 32] }
  $extra
}
SPEC
  done
  "$CLUSTER" up "$dir" --ps 2 --workers 1 --bin_dir "$BIN" >/dev/null
  source "$dir/env"
  run_job "$dir/specs/train.textproto" "$dir/train"
  run_job "$dir/specs/eval.textproto" "$dir/eval_before"
  "$CLUSTER" down "$dir" >/dev/null
  cp -a "$dir/data" "$dir/data.trained"
}
