#!/usr/bin/env bash
# A task that crashes never takes its worker daemon down (issue 11): a real
# local cluster whose worker is //worker/testing:crash_worker (the worker
# daemon with CrashTask for PS_LOAD_TEST jobs, worker/testing/crash_task.h).
# Jobs whose task segfaults, aborts, throws std::bad_alloc or exits fail
# with the reason; the worker daemon keeps its pid and its registration,
# and a normal job then runs on it. The CNN part runs a Stanza job through
# the same worker binary's FC relay (an FC task in a process behind the
# daemon's StanzaFc address).
set -euo pipefail
source "${TEST_SRCDIR:-$PWD/..}/strata/tests/integration/lib.sh"
e2e_dir task_isolation

cluster_up --ps 2 --workers 1 --conv_workers 1 --fc_nodes 1 \
  --worker_bin "$BIN/worker/testing/crash_worker"
pids_before=$(daemon_pids)

state_and_reason() {  # state_and_reason JOB_ID -> "STATE<TAB>REASON"
  "$CTL" --json status "$1" | python3 -c '
import json, sys
s = json.load(sys.stdin)
print(s.get("state", "") + "\t" + s.get("reason", ""))'
}

# crashes NAME WANT: a 1-worker job whose task does NAME fails, saying WANT.
crashes() {
  local name=$1 want=$2 id out
  printf 'name: "%s" num_workers: 1 worker_role: "general"
ps_load_test { table: "%s" }\n' "$name" "$name" > "$SPECS/$name.textproto"
  id=$("$CTL" submit "$SPECS/$name.textproto") || fail "submit $name"
  "$CTL" watch "$id" > "$DIR/$name.watch" 2>&1 && fail "$name succeeded"
  out=$(state_and_reason "$id")
  [[ "$out" == FAILED* ]] || fail "$name: $out, want FAILED"
  grep -qF -- "$want" <<< "$out" || fail "$name: reason does not say '$want': $out"
  echo "failed as it should: $name: ${out#*	}"
}

step "crashing tasks fail their jobs with the reason"
crashes crash-segv "task process killed by signal 11 (Segmentation fault)"
crashes crash-abort "task process killed by signal 6 (Aborted)"
crashes crash-bad-alloc "std::bad_alloc"
crashes crash-exit "exited with status 3 without reporting an outcome"

step "every daemon kept its pid and its registration"
[ "$(daemon_pids)" = "$pids_before" ] ||
  fail "daemon pids changed: $pids_before -> $(daemon_pids)"
"$CTL" --json nodes > "$DIR/nodes.json"
python3 - "$DIR/nodes.json" <<'PY' || fail "nodes"
import json, sys
nodes = json.load(open(sys.argv[1]))["nodes"]
alive = sorted(n["role"] for n in nodes if n.get("alive"))
assert alive == ["conv", "fc", "general", "ps", "ps"], alive
PY
"$CTL" health || fail "health"

step "a normal job runs on the same worker"
printf 'name: "after-crashes" num_workers: 1 worker_role: "general"
ps_load_test { table: "ok" dim: 8 keys_per_worker: 2000 batch_size: 500 rounds: 2 }\n' \
  > "$SPECS/load.textproto"
"$CTL" submit "$SPECS/load.textproto" --watch > "$DIR/load.out" || {
  cat "$DIR/load.out"; fail "normal job after the crashes"; }

step "a Stanza job runs through the FC node's relay to its task process"
cat > "$SPECS/stanza.textproto" <<'SPEC'
name: "stanza-in-processes"
cnn_train { model: "lenet5" data { synthetic_train: 512 synthetic_test: 128 }
            mode: STANZA num_conv_workers: 1 num_fc_nodes: 1 batch_size: 32
            learning_rate: 0.02 steps: 20 step_timeout_s: 20 }
SPEC
"$CTL" submit "$SPECS/stanza.textproto" --watch > "$DIR/stanza.out" || {
  cat "$DIR/stanza.out"; fail "Stanza job"; }
grep -q "runs in process" "$DIR"/worker-fc-0.log ||
  fail "the FC task did not run in a task process"
[ "$(daemon_pids)" = "$pids_before" ] || fail "daemon pids changed"
echo "PASS"
