#!/usr/bin/env bash
# The coordinator SIGKILLed and restarted under a running job (issue 12), on
# a local cluster of real processes (deploy/local/cluster.sh keeps the
# coordinator's state in DIR/coordinator-state):
#   - the job running across the restart finishes SUCCEEDED;
#   - every node keeps its id (no node registers again, none is added);
#   - a job submitted after the restart succeeds the first time, with a new
#     job id;
#   - prints how long the cluster took to be whole again (every node heard
#     from by the new coordinator), from the SIGKILL.
set -euo pipefail

source "${TEST_SRCDIR:-$PWD/..}/strata/tests/integration/lib.sh"
e2e_dir coordinator_restart

cluster_up --ps 2 --workers 2

# "node-1 node-2 ..." of the alive nodes, sorted.
alive_ids() {
  "$CTL" --json nodes | python3 -c '
import json, sys
print(" ".join(sorted(n["node_id"] for n in json.load(sys.stdin)["nodes"] if n["alive"])))'
}
# Exit 0 once every node in $1 is alive and was heard from after $2 (unix ms).
all_heard_since() {
  "$CTL" --timeout_s=2 --json nodes 2>/dev/null | python3 -c '
import json, sys
want, since = sys.argv[1].split(), int(sys.argv[2])
nodes = {n["node_id"]: n for n in json.load(sys.stdin)["nodes"]}
sys.exit(0 if all(i in nodes and nodes[i]["alive"] and
                  int(nodes[i]["last_heartbeat_unix_ms"]) > since
                  for i in want) else 1)' "$1" "$2"
}
now_ms() { date +%s%3N; }

step "a job runs; the coordinator is SIGKILLed and restarted under it"
ids_before=$(alive_ids)
[[ $(wc -w <<<"$ids_before") -eq 4 ]] || fail "expected 4 nodes, got: $ids_before"
cat > "$SPECS/across.textproto" <<'SPEC'
name: "across-restart" num_workers: 2
ps_load_test { table: "across" dim: 8 keys_per_worker: 200000 batch_size: 2000 rounds: 40 seed: 3 }
SPEC
job=$("$CTL" submit "$SPECS/across.textproto")
for _ in $(seq 1 200); do
  "$CTL" --json status "$job" | grep -q '"step":"[1-9]' && break
  sleep 0.05
done
"$CTL" --json status "$job" | grep -q '"RUNNING"' || fail "$job is not running before the restart"
killed_ms=$(now_ms)
"$CLUSTER" restart "$DIR" coordinator
whole_ms=""
for _ in $(seq 1 300); do
  if all_heard_since "$ids_before" "$killed_ms" && "$CTL" --timeout_s=2 health >/dev/null 2>&1; then
    whole_ms=$(now_ms)
    break
  fi
  sleep 0.05
done
[[ -n "$whole_ms" ]] || fail "the nodes did not all come back within 15 s"
echo "cluster whole again $(( (whole_ms - killed_ms) / 1000 )).$(printf '%03d' $(( (whole_ms - killed_ms) % 1000 ))) s after the coordinator's SIGKILL"

step "the job running across the restart finishes SUCCEEDED"
set +e
timeout 120 "$CTL" watch "$job" > "$DIR/across.out" 2>&1; rc=$?
set -e
[[ $rc -eq 0 ]] || { cat "$DIR/across.out"; fail "$job: watch exit $rc, want 0"; }
"$CTL" --json status "$job" | grep -q '"SUCCEEDED"' || fail "$job did not succeed"
grep -q "mismatches=0" "$DIR/across.out" || { cat "$DIR/across.out"; fail "values read back wrong"; }

step "every node kept its id; none registered again"
ids_after=$(alive_ids)
[[ "$ids_after" == "$ids_before" ]] || fail "nodes before: $ids_before; after: $ids_after"
! grep -l "re-registering\|registered with coordinator.*was not kept" "$DIR"/ps-*.log "$DIR"/worker-*.log ||
  fail "a node registered again"

step "a job submitted after the restart succeeds the first time, with a new id"
cat > "$SPECS/after.textproto" <<'SPEC'
name: "after-restart" num_workers: 2
ps_load_test { table: "after" dim: 8 keys_per_worker: 20000 batch_size: 2000 rounds: 2 seed: 4 }
SPEC
after=$("$CTL" submit "$SPECS/after.textproto")
[[ "$after" == "job-2" ]] || fail "the job after the restart is $after, want job-2 (ids never reused)"
"$CTL" watch "$after" > "$DIR/after.out" 2>&1 || { cat "$DIR/after.out"; fail "$after failed"; }

step "the history survived: both jobs listed, the first with its events"
"$CTL" --json list > "$DIR/list.json"
grep -q "across-restart" "$DIR/list.json" || fail "the first job is gone"
"$CTL" --json watch "$job" > "$DIR/replay.jsonl" || fail "replay of $job"
grep -q '"message":"submitted"' "$DIR/replay.jsonl" &&
  grep -q '"message":"assigned to node-' "$DIR/replay.jsonl" &&
  grep -q '"SUCCEEDED"' "$DIR/replay.jsonl" || { cat "$DIR/replay.jsonl"; fail "the first job's events are gone"; }

echo "PASS"
