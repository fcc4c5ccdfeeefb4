#!/usr/bin/env bash
# Multi-host end to end over network namespaces (tests/multihost/netns_lib.sh):
# 8 "hosts" on a private bridge (10.213.7.0/24, only inside the namespaces),
# each running its own daemons:
#
#   h1 10.213.7.1  coordinator (+ stratactl)   h5 10.213.7.5  conv worker
#   h2 10.213.7.2  ps shard 0                  h6 10.213.7.6  conv worker
#   h3 10.213.7.3  ps shard 1                  h7 10.213.7.7  CTR (general) worker
#   h4 10.213.7.4  FC node (StanzaFc)          h8 10.213.7.8  CTR (general) worker
#
# Runs CNN_TRAIN (STANZA, LeNet-5, synthetic) and CTR_TRAIN (generator spec)
# through stratactl on h1; checks the nodes registered their hosts' own
# addresses, the jobs succeeded and learned, and the activations really
# crossed the FC host's link. Every connection is mutual TLS (a throwaway CA;
# each daemon's certificate names its host's address); a plaintext client
# is refused. SKIPs (exit 0) where namespaces cannot be made.
set -euo pipefail

RUNFILES=${TEST_SRCDIR:-$PWD/..}/strata
BIN=${STRATA_BIN_DIR:-$RUNFILES}
CTL=$BIN/tools/stratactl
HERE=${BASH_SOURCE[0]%/*}
# shellcheck source=netns_lib.sh
source "$RUNFILES/tests/multihost/netns_lib.sh" 2>/dev/null || source "$HERE/netns_lib.sh"

if ! why=$(mh_can_run); then
  echo "SKIP: multi-host test needs network namespaces: $why"
  exit 0
fi

MH_DIR=${TEST_TMPDIR:-/tmp}/multihost_e2e.$$
mkdir -p "$MH_DIR"
on_exit() {
  rc=$?
  ((rc == 0)) || mh_tail_logs
  mh_cleanup
  exit "$rc"
}
trap on_exit EXIT
trap 'exit 130' INT TERM

fail() { echo "FAIL: $*" >&2; exit 1; }
step() { echo "--- [$SECONDS s] $*"; }

step "namespaces: switch + 8 hosts on $MH_SUBNET.0/24 (prefix $MH_PREFIX)"
mh_setup 8
CERTS=$RUNFILES/tools/certs.sh
[[ -f $CERTS ]] || CERTS=$HERE/../../tools/certs.sh
mh_pki "$CERTS"
COORD=$(mh_ip 1):7000
mh_tls coordinator coordinator 1
mh_start 1 coordinator "$BIN/server/strata_coordinator" --listen="$COORD" \
  --port_file="$MH_DIR/coordinator.addr" "${MH_TLS[@]}"
for _ in $(seq 1 100); do [[ -s $MH_DIR/coordinator.addr ]] && break; sleep 0.1; done
[[ -s $MH_DIR/coordinator.addr ]] || fail "coordinator did not start"
for s in 0 1; do
  h=$((2 + s))
  mkdir -p "$MH_DIR/data-h$h"
  mh_tls shard "ps-$s" "$h"
  mh_start "$h" "ps-$s" "$BIN/server/ps_server" --listen="$(mh_ip $h):7100" \
    --advertise="$(mh_ip $h):7100" --shard_id=$s --num_shards=2 \
    --data_dir="$MH_DIR/data-h$h" --coordinator="$COORD" "${MH_TLS[@]}"
done
mh_tls worker fc-0 4
mh_start 4 fc-0 "$BIN/worker/worker" --coordinator="$COORD" --role=fc \
  --listen="$(mh_ip 4):7200" --port_file="$MH_DIR/fc-0.addr" "${MH_TLS[@]}"
h=5
for w in conv-0:conv conv-1:conv ctr-0:general ctr-1:general; do
  mh_tls worker "${w%%:*}" "$h"
  mh_start "$h" "${w%%:*}" "$BIN/worker/worker" --coordinator="$COORD" --role="${w#*:}" "${MH_TLS[@]}"
  h=$((h + 1))
done
mh_wait_nodes 1 "$COORD" 2 5 30 || fail "cluster did not come up"
for n in coordinator ps-0 ps-1 fc-0 conv-0 conv-1 ctr-0 ctr-1; do
  mh_alive "$n" || fail "$n exited during start-up"
done
ctl() { mh_exec 1 "$CTL" --coordinator="$COORD" --timeout_s=10 "$@"; }
ctl --json nodes > "$MH_DIR/nodes.json"
# Without a certificate: refused before any RPC (the coordinator listens on
# a non-loopback address only with TLS).
if mh_exec 1 env -u STRATA_TLS_CA -u STRATA_TLS_CERT -u STRATA_TLS_KEY \
    "$CTL" --coordinator="$COORD" --timeout_s=5 health >"$MH_DIR/plain.out" 2>&1; then
  fail "a plaintext stratactl was served: $(cat "$MH_DIR/plain.out")"
fi
python3 - "$MH_DIR/nodes.json" "$MH_SUBNET" <<'PY' || fail "nodes did not register their own hosts' addresses"
import json, sys
nodes = json.load(open(sys.argv[1])); net = sys.argv[2]
if isinstance(nodes, dict):  # {"nodes": [...]}
    nodes = next(v for v in nodes.values() if isinstance(v, list))
addrs = sorted(n.get("address", "") for n in nodes if n.get("address"))
print("registered addresses:", addrs)
assert net + ".2:7100" in addrs and net + ".3:7100" in addrs, addrs
assert net + ".4:7200" in addrs, addrs
assert not any(a.startswith("127.") or a.startswith("0.") for a in addrs), addrs
PY
rx_bytes() { mh_exec "$1" cat /sys/class/net/eth0/statistics/rx_bytes; }

step "CNN_TRAIN STANZA across hosts (2 conv workers on h5/h6, FC node on h4)"
fc_rx0=$(rx_bytes 4)
cat > "$MH_DIR/stanza.textproto" <<SPEC
name: "multihost-stanza"
cnn_train { model: "lenet5" data { synthetic_train: 2048 synthetic_test: 256 }
            mode: STANZA num_conv_workers: 2 num_fc_nodes: 1 batch_size: 32
            learning_rate: 0.02 steps: 60 step_timeout_s: 20 }
SPEC
id=$(ctl submit "$MH_DIR/stanza.textproto") || fail "submit stanza"
mh_exec 1 timeout 60 "$CTL" --coordinator="$COORD" watch "$id" > "$MH_DIR/stanza.watch" 2>&1 ||
  { tail -n 20 "$MH_DIR/stanza.watch"; fail "STANZA job did not succeed"; }
ctl --json status "$id" > "$MH_DIR/stanza.json"
fc_rx=$(( $(rx_bytes 4) - fc_rx0 ))
python3 - "$MH_DIR/stanza.json" "$fc_rx" <<'PY' || fail "STANZA metrics out of range"
import json, sys
m = json.load(open(sys.argv[1]))["metrics"]; fc_rx = int(sys.argv[2])
print("STANZA: test_accuracy=%.4f worker bytes/step=%.0f images/s=%.0f fc_conv_recv=%d FC host eth0 rx=%d" % (
    m["test_accuracy"], m["worker_bytes_per_step"], m["images_per_s"], m["fc_conv_recv_bytes"], fc_rx))
assert m["test_accuracy"] > 0.9, m["test_accuracy"]
assert m["worker_fc_sent_bytes"] > 0 and m["fc_conv_recv_bytes"] >= m["worker_fc_sent_bytes"]
# The activations went over h4's veth (plus TCP/HTTP2 framing).
assert fc_rx >= m["worker_fc_sent_bytes"], (fc_rx, m["worker_fc_sent_bytes"])
PY

step "CTR_TRAIN across hosts (2 general workers on h7/h8, generated data)"
cat > "$MH_DIR/ctr.textproto" <<SPEC
name: "multihost-ctr" num_workers: 2
ctr_train { generator { rows: 40000 eval_rows: 8000 seed: 3 max_vocab: 5000 groups: 20 }
            model { table: "ctr" embedding_dim: 8 } epochs: 2 batch_size: 512
            checkpoint_id: 7 }
SPEC
id=$(ctl submit "$MH_DIR/ctr.textproto") || fail "submit ctr"
mh_exec 1 timeout 60 "$CTL" --coordinator="$COORD" watch "$id" > "$MH_DIR/ctr.watch" 2>&1 ||
  { tail -n 20 "$MH_DIR/ctr.watch"; fail "CTR job did not succeed"; }
ctl --json status "$id" > "$MH_DIR/ctr.json"
python3 - "$MH_DIR/ctr.json" <<'PY' || fail "CTR metrics out of range"
import json, sys
m = json.load(open(sys.argv[1]))["metrics"]
print("CTR: auc=%.4f logloss=%.4f examples=%d" % (m["auc"], m["logloss"], m["examples"]))
assert m["auc"] > 0.65, m["auc"]
PY
# Each shard wrote its part of checkpoint 7 into its own host's data dir.
ls "$MH_DIR"/data-h2/ckpt-*7/shard-00000-of-00002.ckpt > /dev/null || fail "no shard 0 checkpoint on h2"
ls "$MH_DIR"/data-h3/ckpt-*7/shard-00001-of-00002.ckpt > /dev/null || fail "no shard 1 checkpoint on h3"
step "PASS"
