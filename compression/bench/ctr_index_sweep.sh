#!/usr/bin/env bash
# The demo's CTR story (tools/demo.sh) with several Saec key-index
# settings on one trained model: generate 1M rows, train once at dimension
# DIM on 2 shards, evaluate, then for each setting restore the trained
# checkpoint, restart the shards with --compress=saec and that setting, and
# evaluate again. Prints one line per setting: bytes before/after with the
# index counted, the ratio, the ratio of vector bytes alone, and AUC/log
# loss deltas (docs/saec.md, "Key index"). Needs the -c opt binaries that
# tools/demo.sh builds.
#   compression/bench/ctr_index_sweep.sh [DIM] [SETTING]...
# SETTING is text-format SaecConfig, e.g. "index_layout: MPH fingerprint_bits: 8"
# (sent as one --saec word: cluster.sh splits --ps_flags on spaces).
# STRATA_SWEEP_REUSE=1 reuses DIR's trained model and data from an earlier
# run of the same DIM.
set -euo pipefail
cd "$(dirname "$0")/../.."
DIM=${1:-16}
shift || true
SETTINGS=("$@")
if [ ${#SETTINGS[@]} -eq 0 ]; then
  SETTINGS=("index_layout: COMPACT"
            "index_layout: MPH fingerprint_bits: 0"
            "index_layout: MPH fingerprint_bits: 8"
            "index_layout: MPH fingerprint_bits: 16")
fi
DIR=${STRATA_SWEEP_DIR:-/tmp/strata-index-sweep-$DIM}
ROWS=${CTR_ROWS:-1000000}
CLUSTERS=${CTR_CLUSTERS:-64}
BIN=$(bazel info -c opt bazel-bin 2>/dev/null)
CTL="$BIN/tools/stratactl"
CLUSTER=deploy/local/cluster.sh
"$CLUSTER" down "$DIR" >/dev/null 2>&1 || true
trap '"$CLUSTER" down "$DIR" >/dev/null 2>&1 || true' EXIT
source compression/bench/ctr_common.sh
if [ "${STRATA_SWEEP_REUSE:-0}" != 1 ] || [ ! -d "$DIR/data.trained" ]; then
  ctr_train "$DIR" "$ROWS" "$DIM"
fi
echo "d = $DIM, $ROWS rows, $CLUSTERS clusters per field and shard, 2 shards; $(uptime)"
i=0
for setting in "${SETTINGS[@]}"; do
  i=$((i + 1))
  rm -rf "$DIR/data"
  cp -a "$DIR/data.trained" "$DIR/data"  # every setting starts uncompressed
  start=$(date +%s)
  word=${setting//: /:}
  word=${word// /,}
  "$CLUSTER" up "$DIR" --ps 2 --workers 1 --bin_dir "$BIN" --timeout_s 300 \
    --ps_flags "--compress=saec --saec=clusters:$CLUSTERS,$word" \
    >/dev/null
  source "$DIR/env"
  "$CTL" --json stats --table=ctr > "$DIR/stats$i.json"
  run_job "$DIR/specs/eval.textproto" "$DIR/eval$i"
  "$CLUSTER" down "$DIR" >/dev/null
  python3 - "$DIR" "$i" "$DIM" "$setting" "$(( $(date +%s) - start ))" <<'PY'
import json, sys
d, i, dim, setting, secs = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
st = json.load(open("%s/stats%s.json" % (d, i)))
rows = [r for r in (st.get("fields") or st.get("stats") or []) if r.get("table", "ctr") == "ctr"]
bb = sum(int(r["bytes_before"]) for r in rows)
ba = sum(int(r["bytes_after"]) for r in rows)
vb = sum(int(r["vectors_before"]) for r in rows) * dim * 4
b = json.load(open("%s/eval_before.json" % d))["metrics"]
a = json.load(open("%s/eval%s.json" % (d, i)))["metrics"]
print("%-40s bytes %11d -> %9d  ratio %6.2fx  vectors-only %6.2fx  AUC %.5f -> %.5f (%+.5f)  logloss %.5f -> %.5f (%+.5f)  %ss"
      % (setting, bb, ba, bb / ba, vb / ba, b["auc"], a["auc"], a["auc"] - b["auc"],
         b["logloss"], a["logloss"], a["logloss"] - b["logloss"], secs))
PY
done
