#!/usr/bin/env bash
# Hostile and careless job specs against a real local cluster (a
# coordinator, 2 ps shards and 2 workers as processes): each is refused at
# submission with INVALID_ARGUMENT naming the field (stratactl exit 3) or,
# where it reaches a worker, fails only its task; afterwards every daemon is
# still up and a normal job runs on the same daemons. The cases are the ones
# issue 11 reproduced (an unknown CNN mode killed a worker with SIGFPE, 4e9
# synthetic images killed one with bad_alloc) plus their relatives.
# Per-RPC limits of the shards are tested in-process over real gRPC
# (//server/ps:ps_limits_test); this test covers the job path end to end.
set -euo pipefail

source "${TEST_SRCDIR:-$PWD/..}/strata/tests/integration/lib.sh"
e2e_dir hostile

cluster_up --ps 2 --workers 2
pids_before=$(daemon_pids)

# refused NAME 'SPEC' 'EXPECTED TEXT': submission exits 3 and says why.
refused() {
  local name=$1 spec=$2 want=$3 ext=${4:-textproto}
  printf '%s\n' "$spec" > "$SPECS/$name.$ext"
  set +e
  "$CTL" submit "$SPECS/$name.$ext" > "$DIR/$name.out" 2> "$DIR/$name.err"
  local rc=$?
  set -e
  [ $rc -eq 3 ] || { cat "$DIR/$name.err"; fail "$name: exit $rc, want 3"; }
  grep -qF -- "$want" "$DIR/$name.err" || {
    cat "$DIR/$name.err"; fail "$name: error does not say: $want"; }
  echo "refused: $name"
}

step "hostile specs are refused at submission, naming the field"
refused unknown_mode 'cnn_train { mode: 7 }' \
  'cnn_train.mode 7 is not a value of Mode'
refused unknown_sync 'cnn_train { sync: 9 }' \
  'cnn_train.sync 9 is not a value of Sync'
refused huge_synthetic 'cnn_train { data { synthetic_train: 4000000000 } }' \
  'cnn_train.data.synthetic_train 4000000000 is out of range'
refused dataset_bytes \
  'cnn_train { model: "vgg" data { synthetic_train: 16000000 } }' \
  '(coordinator flag --max_job_dataset_mb)'
refused signed_gpu 'cnn_train { device: "gpu:+1" }' 'bad device'
refused fc_nodes_ps 'cnn_train { mode: PS num_fc_nodes: 3 }' \
  'num_fc_nodes must be 0 in PS mode'
refused batch_bytes \
  'ps_load_test { dim: 4096 batch_size: 1000000 }' \
  'exceeds the 67108864-byte request limit'
refused many_workers 'num_workers: 100000 ps_load_test {}' \
  'num_workers 100000 is out of range'
refused ps_role 'worker_role: "ps" ps_load_test {}' \
  "worker_role 'ps' is reserved"
refused bad_table 'ps_load_test { table: "my\000table" }' \
  "may hold only letters, digits and _ . : / -"
refused nan_rate '{"ctrTrain": {"learningRate": "NaN"}}' \
  'ctr_train.learning_rate is nan; it must be finite' json
refused control_chars 'name: "a\nb" ps_load_test {}' \
  'name holds a control character'

step "every daemon is still up and registered"
pids_after=$(daemon_pids)
[ -n "$pids_after" ] && [ "$pids_before" = "$pids_after" ] ||
  fail "daemon pids changed: $pids_before -> $pids_after"
for pid in $pids_after; do
  kill -0 "$pid" 2>/dev/null || fail "daemon $pid died"
done
"$CTL" health || fail "health"
"$CTL" --json nodes > "$DIR/nodes.json"
python3 - "$DIR/nodes.json" <<'PY' || fail "nodes"
import json, sys
nodes = json.load(open(sys.argv[1]))["nodes"]
alive = [n for n in nodes if n.get("alive")]
roles = sorted(n["role"] for n in alive)
assert roles == ["general", "general", "ps", "ps"], roles
print("alive:", roles)
PY
"$CTL" --json list > "$DIR/list.json"
python3 - "$DIR/list.json" <<'PY' || fail "refused jobs were stored"
import json, sys
jobs = json.load(open(sys.argv[1])).get("jobs", [])
assert jobs == [], jobs
PY

step "a normal 2-worker job runs on the same daemons"
cat > "$SPECS/load.textproto" <<'SPEC'
name: "after-hostile"
num_workers: 2
ps_load_test { table: "hostile" dim: 8 keys_per_worker: 5000 batch_size: 1000 rounds: 2 }
SPEC
"$CTL" submit "$SPECS/load.textproto" --watch > "$DIR/load.out" || {
  cat "$DIR/load.out"; fail "normal job after the hostile ones"; }
grep -q "SUCCEEDED" "$DIR/load.out" || fail "normal job did not succeed"
echo "PASS"
