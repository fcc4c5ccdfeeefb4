#!/usr/bin/env bash
# The main demo, on a local cluster over loopback:
#   1. installs what is missing (tools/setup.sh) and builds the daemons;
#   2. starts a coordinator, 2 parameter-server shards and 1 worker;
#   3. submits the built-in PS load test through stratactl and watches it;
#   4. prints the job's result, the tables, and a checkpoint;
#   5. stops the cluster.
# Logs and data stay in $STRATA_DEMO_DIR (default /tmp/strata-demo).
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd)
DIR=${STRATA_DEMO_DIR:-/tmp/strata-demo}

tools/setup.sh
echo "=== building"
bazel build -c opt //server:ps_server //server:coordinator //worker:worker \
  //tools:stratactl 2>&1 | tail -2

CLUSTER=deploy/local/cluster.sh
"$CLUSTER" down "$DIR" >/dev/null 2>&1 || true
rm -rf "$DIR"
trap '"$CLUSTER" down "$DIR" >/dev/null 2>&1 || true' EXIT

echo "=== starting a local cluster in $DIR (coordinator, 2 shards, 1 worker)"
"$CLUSTER" up "$DIR" --ps 2 --workers 1
export STRATA_COORDINATOR=$(cat "$DIR/coordinator.addr")
CTL="$REPO/bazel-bin/tools/stratactl"

echo "=== stratactl health"
"$CTL" health

echo "=== stratactl submit tools/examples/ps_load_test.textproto --watch"
set +e
"$CTL" submit tools/examples/ps_load_test.textproto --watch
rc=$?
set -e

echo "=== stratactl list"
"$CTL" list
echo "=== stratactl tables"
"$CTL" tables
echo "=== stratactl checkpoint"
"$CTL" checkpoint

echo "=== stopping the cluster"
"$CLUSTER" down "$DIR"
trap - EXIT
if [ $rc -ne 0 ]; then
  echo "demo: the job did not succeed (stratactl exit $rc); logs in $DIR" >&2
  exit $rc
fi
echo "demo: OK (logs in $DIR)"
