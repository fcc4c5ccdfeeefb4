#!/usr/bin/env bash
# Stanza (CNN_TRAIN) end to end on loopback with real processes
# (deploy/local/cluster.sh): 2 shards, 2 conv workers, 1 FC node; small
# synthetic LeNet-5 data. Runs STANZA and PS mode (both must learn: test
# accuracy > 0.9 on separable images; byte counters present, STANZA workers
# exchange activations with the FC node and no FC parameter with the shards),
# then kills the FC node with SIGKILL mid-job: the job must FAIL with a
# reason naming the FC node, within the deadlines (no hang).
set -euo pipefail

source "${TEST_SRCDIR:-$PWD/..}/strata/tests/integration/lib.sh"
e2e_dir stanza_e2e
spec() {  # spec NAME MODE FC_NODES STEPS
  cat <<SPEC
name: "$1"
cnn_train { model: "lenet5" data { synthetic_train: 2048 synthetic_test: 256 }
            mode: $2 num_conv_workers: 2 num_fc_nodes: $3 batch_size: 32
            learning_rate: 0.02 steps: $4 step_timeout_s: 20 }
SPEC
}

cluster_up --ps 2 --workers 0 --conv_workers 2 --fc_nodes 1

for mode in STANZA PS; do
  step "CNN_TRAIN $mode"
  fc=1; [[ $mode == PS ]] && fc=0
  spec "e2e-$mode" "$mode" "$fc" 60 > "$DIR/$mode.textproto"
  id=$("$CTL" submit "$DIR/$mode.textproto") || fail "submit $mode"
  "$CTL" watch "$id" > "$DIR/$mode.watch" 2>&1 || { cat "$DIR/$mode.watch"; fail "$mode job failed"; }
  "$CTL" --json status "$id" > "$DIR/$mode.json"
done
python3 - "$DIR/STANZA.json" "$DIR/PS.json" <<'PY' || fail "metrics out of range"
import json, sys
s, p = (json.load(open(f))["metrics"] for f in sys.argv[1:3])
for name, m in (("STANZA", s), ("PS", p)):
    print("%s: test_accuracy=%.4f bytes/step (workers)=%.0f images/s=%.0f compute=%.2fs comm=%.2fs" % (
        name, m["test_accuracy"], m["worker_bytes_per_step"], m["images_per_s"],
        m["worker_compute_s"], m["worker_comm_s"]))
    assert m["test_accuracy"] > 0.9, (name, m["test_accuracy"])
assert s["worker_fc_sent_bytes"] > 0 and s["fc_conv_recv_bytes"] >= s["worker_fc_sent_bytes"]
assert p["worker_fc_sent_bytes"] == 0
# STANZA workers push/pull only the 2572 conv parameters (2 workers, 60 steps
# + init); PS mode all 61706.
assert s["worker_ps_recv_bytes"] == 2 * 60 * 2572 * 4, s["worker_ps_recv_bytes"]
assert p["worker_ps_recv_bytes"] == 2 * 60 * 61706 * 4, p["worker_ps_recv_bytes"]
PY

step "the finished jobs' <job_id>/ tensors are dropped from the shards"
for _ in $(seq 1 100); do
  left=$("$CTL" --json tables | python3 -c '
import json, sys
names = {t["name"] for t in json.load(sys.stdin).get("tables", [])}
print(" ".join(sorted(n for n in names if n.startswith("job-"))))')
  [ -z "$left" ] && break
  sleep 0.2
done
[ -z "$left" ] || fail "tensors of finished jobs are still on the shards: $left"

step "kill -9 the FC node mid-job"
# No restarts (max_task_retries: -1): this step is about the failure itself;
# with restarts the job would wait spare_wait_s for a spare FC node.
{ spec "e2e-kill" STANZA 1 100000; echo "max_task_retries: -1"; } > "$DIR/kill.textproto"
id=$("$CTL" submit "$DIR/kill.textproto") || fail "submit kill"
for _ in $(seq 1 100); do
  st=$("$CTL" --json status "$id")
  python3 -c 'import json,sys; sys.exit(0 if json.loads(sys.argv[1]).get("step", 0) and int(json.loads(sys.argv[1])["step"]) > 20 else 1)' "$st" && break
  sleep 0.2
done
# While it runs, its parameters are on the shards under "<job_id>/".
"$CTL" --json tables | grep -qF "\"$id/" || fail "no $id/ tensors while it runs"
fc_pid=$(awk '$1 == "worker-fc-0" {print $2}' "$DIR/pids")
kill -9 "$fc_pid"
start=$SECONDS
if timeout 60 "$CTL" watch "$id" > "$DIR/kill.watch" 2>&1; then
  fail "job survived the FC node's death"
fi
(( SECONDS - start < 60 )) || fail "job did not end within 60 s of the FC node's death"
"$CTL" --json status "$id" > "$DIR/kill.json"
python3 - "$DIR/kill.json" <<'PY' || fail "wrong failure"
import json, sys
st = json.load(open(sys.argv[1]))
print("state=%s reason=%s" % (st["state"], st.get("reason")))
assert st["state"] == "FAILED", st["state"]
assert "FC node" in st["reason"] or "died" in st["reason"] or "heartbeat" in st["reason"], st["reason"]
PY
echo "PASS"
