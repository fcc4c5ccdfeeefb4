#!/usr/bin/env bash
# deploy/local/cluster.sh's supervision (issue 12): with `up --supervise`, a
# SIGKILLed shard comes back by itself with the same flags on the same
# address, reloads its newest checkpoint (the data written before it is
# there), and `down` stops the supervisor first (nothing is restarted
# after it, nothing is left running).
set -euo pipefail

source "${TEST_SRCDIR:-$PWD/..}/strata/tests/integration/lib.sh"
e2e_dir supervise

cluster_up --ps 2 --workers 1 --supervise
[[ -s "$DIR/supervisor.pid" ]] || fail "no supervisor started"
read -r sup_pid _ < "$DIR/supervisor.pid"

step "write data, checkpoint it"
load_spec() {  # load_spec VERIFY
  cat <<SPEC
name: "supervised" num_workers: 1
ps_load_test { table: "sup" dim: 4 keys_per_worker: 5000 batch_size: 500 rounds: 1 seed: 9 verify_existing: $1 }
SPEC
}
load_spec false > "$SPECS/write.textproto"
load_spec true > "$SPECS/verify.textproto"
"$CTL" submit --watch "$SPECS/write.textproto" > "$DIR/write.out" 2>&1 || { cat "$DIR/write.out"; fail "write job"; }
"$CTL" checkpoint > /dev/null || fail "checkpoint"

step "kill -9 ps-0: the supervisor starts it again"
old=$(awk '$1 == "ps-0" {print $2}' "$DIR/pids")
addr=$(cat "$DIR/ps-0.addr")
"$CLUSTER" kill "$DIR" ps-0 > /dev/null
back=""
for _ in $(seq 1 150); do
  new=$(awk '$1 == "ps-0" {print $2}' "$DIR/pids")
  if [[ "$new" != "$old" && -s "$DIR/ps-0.addr" ]] && "$CTL" --timeout_s=2 health > /dev/null 2>&1; then
    back=yes; break
  fi
  sleep 0.2
done
[[ -n "$back" ]] || { cat "$DIR/supervisor.log"; fail "ps-0 did not come back"; }
[[ "$(cat "$DIR/ps-0.addr")" == "$addr" ]] || fail "ps-0 came back on another address"
grep -q "ps-0 restarted" "$DIR/supervisor.log" || fail "restart not logged"
cat "$DIR/supervisor.log"

step "the checkpointed data is there"
"$CTL" submit --watch "$SPECS/verify.textproto" > "$DIR/verify.out" 2>&1 || { cat "$DIR/verify.out"; fail "verify job"; }

step "down stops the supervisor, then the daemons"
pids=$(daemon_pids)
"$CLUSTER" down "$DIR" > /dev/null
kill -0 "$sup_pid" 2> /dev/null && fail "supervisor still running"
for p in $pids; do kill -0 "$p" 2> /dev/null && fail "pid $p still running"; done
sleep 2  # a supervisor that outlived down would have restarted something
[[ ! -f "$DIR/pids" ]] || fail "processes recorded after down: $(cat "$DIR/pids")"
echo "PASS"
