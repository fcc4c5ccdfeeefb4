#!/usr/bin/env bash
# Multi-process integration test on loopback: a coordinator, 2 ps shards and
# workers as real processes (deploy/local/cluster.sh), driven by stratactl.
# Checks the built-in PS load test end to end, then the failure paths: a
# malformed spec, an unschedulable job, a worker killed mid-job, a job
# cancelled mid-run, and that the daemons stay up and keep their data.
# The cluster runs with mutual TLS; callers without the right certificate
# are refused (issue 13).
set -euo pipefail

source "${TEST_SRCDIR:-$PWD/..}/strata/tests/integration/lib.sh"
e2e_dir e2e

cluster_up --ps 2 --workers 2 --users "bob:reader"

step "health: coordinator and both shards serve"
"$CTL" health || fail "health"

step "mutual TLS: no certificate, another CA's, and a reader's admin call are refused"
PKI=$DIR/pki
# Runs stratactl with the given --tls_* flags (STRATA_TLS_* unset); prints
# its stderr; exit status kept.
as() { env -u STRATA_TLS_CA -u STRATA_TLS_CERT -u STRATA_TLS_KEY "$CTL" --timeout_s=5 "$@" 2>&1 >/dev/null; }
out=$(as list) && fail "plaintext stratactl was served"
echo "  no certificate: $out" | head -n 2
"$RUNFILES/tools/certs.sh" ca "$DIR/other" >/dev/null
"$RUNFILES/tools/certs.sh" issue "$DIR/other" admin admin >/dev/null
out=$(as --tls_ca="$PKI/ca.crt" --tls_cert="$DIR/other/admin.crt" --tls_key="$DIR/other/admin.key" list) &&
  fail "an admin certificate from another CA was served"
echo "  another CA: $out" | head -n 2
READER=(--tls_ca="$PKI/ca.crt" --tls_cert="$PKI/bob.crt" --tls_key="$PKI/bob.key")
as "${READER[@]}" list >/dev/null || fail "a reader cannot list jobs"
out=$(as "${READER[@]}" checkpoint) && fail "a reader took a checkpoint"
grep -q PERMISSION_DENIED <<<"$out" || fail "reader checkpoint: want PERMISSION_DENIED, got: $out"
echo 'ps_load_test { table: "t" dim: 1 keys_per_worker: 1 batch_size: 1 rounds: 1 }' > "$SPECS/tiny.textproto"
out=$(as "${READER[@]}" submit "$SPECS/tiny.textproto") && fail "a reader submitted a job"
grep -q PERMISSION_DENIED <<<"$out" || fail "reader submit: want PERMISSION_DENIED, got: $out"

step "a 2-worker load test succeeds and verifies every value"
cat > "$SPECS/load.textproto" <<'SPEC'
name: "e2e-load"
num_workers: 2
ps_load_test { table: "e2e" dim: 8 keys_per_worker: 20000 batch_size: 4096 rounds: 2 seed: 5 }
SPEC
"$CTL" submit "$SPECS/load.textproto" --watch > "$DIR/load.out" || {
  cat "$DIR/load.out"; fail "load test job did not succeed"; }
job=$("$CTL" --json list | python3 -c '
import json,sys
jobs=json.load(sys.stdin)
jobs=jobs.get("jobs", jobs) if isinstance(jobs, dict) else jobs
print([j for j in jobs if j["spec"].get("name")=="e2e-load"][0]["job_id"])')
"$CTL" --json status "$job" > "$DIR/status.json"
python3 - "$DIR/status.json" <<'PY' || fail "job metrics wrong"
import json, sys
s = json.load(open(sys.argv[1]))
m = s["metrics"]
assert s["state"] == "SUCCEEDED", s["state"]
assert m["verified_keys"] == 2 * 2 * 20000, m   # 2 workers x 2 rounds
assert m["mismatches"] == 0, m
assert m["pull_keys_per_s"] > 0 and m["push_keys_per_s"] > 0, m
print("metrics ok:", m)
PY

step "tables: 40000 rows of e2e spread over both shards"
"$CTL" --json tables > "$DIR/tables.json"
python3 - "$DIR/tables.json" <<'PY' || fail "tables wrong"
import json, sys
# A strata.ctl.TablesReport (proto/ctl.proto); 64-bit counts are strings.
t = json.load(open(sys.argv[1]))
assert t["failed_shards"] == [], t
e2e = [x for x in t["tables"] if x["name"] == "e2e"]
assert len(e2e) == 1, t
assert int(e2e[0]["rows"]) == 40000, e2e
per_shard = e2e[0]["rows_per_shard"]
assert [s["shard_id"] for s in per_shard] == [0, 1], per_shard
assert sum(int(s["rows"]) for s in per_shard) == 40000, per_shard
PY

step "a malformed spec is rejected locally with exit 2"
echo 'num_workers: "two"' > "$SPECS/bad.textproto"
set +e
"$CTL" submit "$SPECS/bad.textproto" 2> "$DIR/bad.err"; rc=$?
set -e
[ $rc -eq 2 ] || fail "malformed spec: exit $rc, want 2"
grep -q "bad.textproto" "$DIR/bad.err" || fail "error does not name the file"

step "a spec without a job type is rejected locally (exit 2)"
echo 'name: "no-type" num_workers: 1' > "$SPECS/notype.textproto"
set +e
"$CTL" submit "$SPECS/notype.textproto" 2> "$DIR/notype.err"; rc=$?
set -e
[ $rc -eq 2 ] || fail "spec without job type: exit $rc, want 2"

step "a spec the coordinator rejects gets INVALID_ARGUMENT (exit 3)"
echo 'name: "too-wide" ps_load_test { dim: 5000 }' > "$SPECS/wide.textproto"
set +e
"$CTL" submit "$SPECS/wide.textproto" 2> "$DIR/wide.err"; rc=$?
set -e
[ $rc -eq 3 ] || fail "dim 5000: exit $rc, want 3"
grep -q "INVALID_ARGUMENT" "$DIR/wide.err" || fail "no INVALID_ARGUMENT"
grep -q "4096" "$DIR/wide.err" || fail "message does not state the limit"

step "a job needing more workers than exist fails with the reason"
cat > "$SPECS/big.textproto" <<'SPEC'
name: "too-big" num_workers: 5 schedule_timeout_s: 2
ps_load_test { keys_per_worker: 10 }
SPEC
set +e
"$CTL" submit "$SPECS/big.textproto" --watch > "$DIR/big.out" 2>&1; rc=$?
set -e
[ $rc -eq 1 ] || { cat "$DIR/big.out"; fail "unschedulable job: exit $rc, want 1"; }
grep -q "needs 5 workers" "$DIR/big.out" || { cat "$DIR/big.out"; fail "no reason"; }

step "cancelling a running job ends it CANCELLED"
cat > "$SPECS/long.textproto" <<'SPEC'
name: "long" num_workers: 1
ps_load_test { table: "long" dim: 4 keys_per_worker: 2000000 batch_size: 1000 rounds: 50 }
SPEC
long=$("$CTL" submit "$SPECS/long.textproto")
for i in $(seq 1 100); do
  "$CTL" --json status "$long" | grep -q '"RUNNING"' && break; sleep 0.1
done
"$CTL" cancel "$long"
set +e
"$CTL" watch "$long" > "$DIR/cancel.out" 2>&1; rc=$?
set -e
[ $rc -eq 1 ] || fail "cancelled job: watch exit $rc, want 1"
grep -q "CANCELLED" "$DIR/cancel.out" || fail "job not CANCELLED"

step "a worker killed mid-job fails the job with a stated reason"
# A 2-worker job; it starts once the cancelled task's worker is idle again.
sed 's/"long"/"long2"/; s/num_workers: 1/num_workers: 2/' "$SPECS/long.textproto" > "$SPECS/long2.textproto"
long2=$("$CTL" submit "$SPECS/long2.textproto")
for i in $(seq 1 300); do
  "$CTL" --json status "$long2" | grep -q '"RUNNING"' && break; sleep 0.1
done
wpid=$(awk '$1=="worker-0"{print $2}' "$DIR/pids")
kill -9 "$wpid"
set +e
timeout 60 "$CTL" watch "$long2" > "$DIR/dead.out" 2>&1; rc=$?
set -e
[ $rc -eq 1 ] || { cat "$DIR/dead.out"; fail "job with a dead worker: exit $rc, want 1"; }
grep -q "FAILED" "$DIR/dead.out" || fail "job not FAILED"
grep -qi "died\|dead" "$DIR/dead.out" || { cat "$DIR/dead.out"; fail "reason does not say the node died"; }

step "the shards are still up, and the first job's data is intact"
"$CTL" health | grep -q "ps.*SERVING" || fail "shards not serving"
# worker-0 is dead: verify with one worker per original rank's key range.
cat > "$SPECS/verify.textproto" <<'SPEC'
name: "verify" num_workers: 1
ps_load_test { table: "e2e" dim: 8 keys_per_worker: 40000 batch_size: 4096 rounds: 2 seed: 5 verify_existing: true }
SPEC
"$CTL" submit "$SPECS/verify.textproto" --watch > "$DIR/verify.out" || {
  cat "$DIR/verify.out"; fail "stored values changed"; }

step "a verify of values never written fails with DATA_LOSS"
sed 's/seed: 5/seed: 6/' "$SPECS/verify.textproto" > "$SPECS/wrong.textproto"
set +e
"$CTL" submit "$SPECS/wrong.textproto" --watch > "$DIR/wrong.out" 2>&1; rc=$?
set -e
[ $rc -eq 1 ] || fail "verify with the wrong seed: exit $rc, want 1"
grep -q "read back wrong" "$DIR/wrong.out" || fail "no mismatch reason"

step "checkpoint, restart the whole cluster, and the data is back"
"$CTL" checkpoint > "$DIR/ckpt.out" || fail "checkpoint"  # the coordinator picks the id
id=$(sed -n 's/^checkpoint \([0-9]*\):.*/\1/p' "$DIR/ckpt.out")
[ -n "$id" ] || fail "no checkpoint id in: $(cat "$DIR/ckpt.out")"
ls "$DIR"/data/ckpt-*"$id"/shard-0000{0,1}-of-00002.ckpt > /dev/null || fail "checkpoint files"
"$CLUSTER" down "$DIR"
cluster_up --ps 2 --workers 1
"$CTL" submit "$SPECS/verify.textproto" --watch > "$DIR/verify2.out" || {
  cat "$DIR/verify2.out"; fail "data lost across restart"; }

step "compress the table on both shards; stats cover every feature"
"$CTL" compress --table=e2e --saec='clusters: 40 min_features: 100' > "$DIR/compress.out" || {
  cat "$DIR/compress.out"; fail "compress"; }
"$CTL" --json stats > "$DIR/stats.json" || fail "stats"
python3 - "$DIR/stats.json" <<'PY' || fail "stats wrong"
import json, sys
# A strata.ctl.FieldStatsReport (proto/ctl.proto); 64-bit counts are strings.
rows = json.load(open(sys.argv[1]))["fields"]
e2e = [r for r in rows if r["table"] == "e2e"]
assert sum(int(r["features"]) for r in e2e) == 40000, e2e
assert all(int(r["clusters"]) == 80 and r["shards"] == 2 for r in e2e), e2e  # 40 per shard
assert all(r["ratio"] > 1 for r in e2e), e2e
print("stats ok:", e2e)
PY
"$CTL" tables | grep -q "e2e.*(saec)" || fail "tables does not show compression"
step "pulls now come from the centroids: the exact values are gone"
set +e
"$CTL" submit "$SPECS/verify.textproto" --watch > "$DIR/verify3.out" 2>&1; rc=$?
set -e
[ $rc -eq 1 ] || fail "verify after compression: exit $rc, want 1"
grep -q "read back wrong" "$DIR/verify3.out" || fail "no mismatch after compression"

echo "PASS"
