#!/usr/bin/env bash
# Cluster-wide Saec clusters (docs/saec.md, "Cluster-wide clusters") on the
# demo's CTR data: generate ROWS rows, train once at dimension DIM on 2
# shards and checkpoint; then for each shard count S in SHARDS restore the
# SAME trained table into S shards (checkpoints re-shard plain tables) and,
# alternating, compress it per shard (today's protocol: S x k vectors per
# field) and cluster-wide (stratactl compress --cluster_wide: k per field),
# each from a fresh restore, and evaluate. Prints one table per shard count:
# vectors and bytes after compression (index counted, summed over the
# shards), the memory the shards hold for the table (`stratactl tables`:
# values, optimizer state, indexes and growth, summed over the shards) and
# AUC / log loss against the uncompressed model. Needs the -c opt binaries
# that tools/demo.sh builds.
#   compression/bench/ctr_cluster_wide.sh [DIM] [SHARDS...]
# Environment: CTR_ROWS (default 200000), CTR_CLUSTERS (k per field,
# default 64), CTR_SAEC (the whole SaecConfig text instead, e.g. "max_mse:
# 0.006"), STRATA_CW_DIR (work directory), STRATA_CW_REUSE=1 (reuse
# the trained model and data of an earlier run of the same DIM).
set -euo pipefail
cd "$(dirname "$0")/../.."
DIM=${1:-16}
shift || true
SHARDS=("$@")
[ ${#SHARDS[@]} -eq 0 ] && SHARDS=(1 2 4)
DIR=${STRATA_CW_DIR:-/tmp/strata-cluster-wide-$DIM}
ROWS=${CTR_ROWS:-200000}
CLUSTERS=${CTR_CLUSTERS:-64}
SAEC=${CTR_SAEC:-"clusters: $CLUSTERS index_layout: COMPACT"}
BIN=$(bazel info -c opt bazel-bin 2>/dev/null)
CTL="$BIN/tools/stratactl"
CLUSTER=deploy/local/cluster.sh
"$CLUSTER" down "$DIR" >/dev/null 2>&1 || true
trap '"$CLUSTER" down "$DIR" >/dev/null 2>&1 || true' EXIT
source compression/bench/ctr_common.sh
if [ "${STRATA_CW_REUSE:-0}" != 1 ] || [ ! -d "$DIR/data.trained" ]; then
  ctr_train "$DIR" "$ROWS" "$DIM"
fi
echo "d = $DIM, $ROWS rows, k = $CLUSTERS per field ($SAEC); $(uptime)"
echo "command: compression/bench/ctr_cluster_wide.sh $DIM ${SHARDS[*]}"
for s in "${SHARDS[@]}"; do
  for mode in per-shard cluster-wide; do
    rm -rf "$DIR/data"
    cp -a "$DIR/data.trained" "$DIR/data"  # the same trained table
    # A fresh coordinator: its state would wait for the old shard count.
    rm -rf "$DIR/coordinator-state"
    "$CLUSTER" up "$DIR" --ps "$s" --workers 1 --bin_dir "$BIN" \
      --timeout_s 300 >/dev/null
    source "$DIR/env"
    flags=()
    [ $mode = cluster-wide ] && flags=(--cluster_wide)
    start=$(date +%s)
    "$CTL" --timeout_s 300 compress --table=ctr --saec="$SAEC" "${flags[@]}" \
      >/dev/null
    secs=$(( $(date +%s) - start ))
    "$CTL" --json stats --table=ctr > "$DIR/stats-$s-$mode.json"
    "$CTL" --json tables > "$DIR/tables-$s-$mode.json"
    run_job "$DIR/specs/eval.textproto" "$DIR/eval-$s-$mode"
    "$CLUSTER" down "$DIR" >/dev/null
    python3 - "$DIR" "$s" "$mode" "$secs" <<'PY'
import json, sys
d, s, mode, secs = sys.argv[1:5]
st = json.load(open("%s/stats-%s-%s.json" % (d, s, mode)))
rows = [r for r in st.get("fields", []) if r.get("table", "ctr") == "ctr"]
va = sum(int(r.get("vectors_after", 0)) for r in rows)
vb = sum(int(r.get("vectors_before", 0)) for r in rows)
bb = sum(int(r.get("bytes_before", 0)) for r in rows)
ba = sum(int(r.get("bytes_after", 0)) for r in rows)
mem = sum(int(t.get("bytes", 0)) for t in json.load(
    open("%s/tables-%s-%s.json" % (d, s, mode))).get("tables", [])
          if t.get("name") == "ctr")
b = json.load(open("%s/eval_before.json" % d))["metrics"]
a = json.load(open("%s/eval-%s-%s.json" % (d, s, mode)))["metrics"]
print("%2s shards %-12s vectors %8d -> %7d  bytes %11d -> %10d (%5.2fx)  "
      "memory %10d  AUC %.5f -> %.5f (%+.5f)  logloss %+.5f  compress %ss"
      % (s, mode, vb, va, bb, ba, bb / max(ba, 1), mem, b["auc"], a["auc"],
         a["auc"] - b["auc"], a["logloss"] - b["logloss"], secs))
PY
  done
done
echo "$(uptime)"
