#!/usr/bin/env bash
# Stanza vs PS on shaped links (run by hand as root; docs/multihost.md).
#
#   tests/multihost/bench_links.sh [--model alexnet] [--batch 8] [--steps 6]
#                                  [--rates "1gbit 10gbit"] [--delay 0.2ms]
#
# Builds the namespace topology of netns_lib.sh (a switch namespace with a
# bridge; h1 coordinator, h2/h3 ps shards, h4 FC node, h5/h6 conv workers),
# shapes every host's link in both directions with tbf at each rate (plus
# netem delay where the kernel has sch_netem), and runs the same CNN_TRAIN
# job (same model, data, seed, batch, steps) in STANZA and PS mode. Prints
# per mode and rate: time per step, images/s, worker bytes per step, and the
# speedup PS time / STANZA time. Binaries from $STRATA_BIN_DIR (default
# bazel-bin; build them first). Never touches the root namespace.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BIN=${STRATA_BIN_DIR:-$REPO/bazel-bin}
CTL=$BIN/tools/stratactl
# shellcheck source=netns_lib.sh
source "$REPO/tests/multihost/netns_lib.sh"

MODEL=alexnet BATCH=8 STEPS=6 RATES="1gbit 10gbit" DELAY=0.2ms PLAINTEXT=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --model) MODEL=$2; shift 2 ;;
    --batch) BATCH=$2; shift 2 ;;
    --steps) STEPS=$2; shift 2 ;;
    --rates) RATES=$2; shift 2 ;;
    --delay) DELAY=$2; shift 2 ;;
    --plaintext) PLAINTEXT=1; shift ;;
    *) echo "usage: $0 [--model M] [--batch B] [--steps S] [--rates \"1gbit 10gbit\"] [--delay 0.2ms] [--plaintext]" >&2; exit 2 ;;
  esac
done
for b in strata_coordinator ps_server; do
  [[ -x $BIN/server/$b ]] || { echo "missing $BIN/server/$b; run: bazel build //server:coordinator //server:ps_server //worker //tools:stratactl" >&2; exit 1; }
done
if ! why=$(mh_can_run); then
  echo "cannot run: $why" >&2
  exit 1
fi

MH_DIR=${BENCH_DIR:-/tmp/strata_bench_links.$$}
mkdir -p "$MH_DIR"
trap 'mh_cleanup' EXIT
trap 'exit 130' INT TERM

NHOSTS=6
mh_setup $NHOSTS
# Mutual TLS (a throwaway CA in $MH_DIR/pki) unless --plaintext, which
# needs --insecure on these non-loopback addresses.
mh_cluster 2 "$PLAINTEXT" || exit 1
COORD=$MH_COORD

netem=no
if mh_delay 1 "$DELAY" 1gbit; then
  netem=yes
else
  echo "note: sch_netem is not available in this kernel; links are shaped with tbf only (no added latency)"
fi

shape_all() {  # shape_all RATE ("none" removes shaping)
  local i
  for ((i = 1; i <= NHOSTS; i++)); do
    if [[ $1 == none ]]; then
      mh_exec "$i" tc qdisc del dev eth0 root 2>/dev/null || true
      ip netns exec "${MH_PREFIX}sw" tc qdisc del dev "p$i" root 2>/dev/null || true
    elif [[ $netem == yes ]]; then
      # netem does rate and delay on the host's egress; tbf on the switch port.
      mh_delay "$i" "$DELAY" "$1"
      ip netns exec "${MH_PREFIX}sw" tc qdisc replace dev "p$i" root netem delay "$DELAY" rate "$1"
    else
      mh_shape "$i" "$1"
    fi
  done
}

run_job() {  # run_job MODE RATE -> $MH_DIR/<rate>-<mode>.json
  local mode=$1 rate=$2 fc=1 id
  [[ $mode == PS ]] && fc=0
  cat > "$MH_DIR/$rate-$mode.textproto" <<SPEC
name: "bench-$rate-$mode"
cnn_train { model: "$MODEL" data { synthetic_train: 1024 synthetic_test: 64 seed: 1 }
            mode: $mode num_conv_workers: 2 num_fc_nodes: $fc batch_size: $BATCH
            learning_rate: 0.01 steps: $STEPS step_timeout_s: 120 }
SPEC
  id=$(mh_exec 1 "$CTL" --coordinator="$COORD" submit "$MH_DIR/$rate-$mode.textproto")
  local t0=$SECONDS
  mh_exec 1 timeout 900 "$CTL" --coordinator="$COORD" watch "$id" > "$MH_DIR/$rate-$mode.watch" 2>&1 ||
    { tail -n 20 "$MH_DIR/$rate-$mode.watch" >&2; echo "$mode job at $rate failed" >&2; exit 1; }
  mh_exec 1 "$CTL" --coordinator="$COORD" --json status "$id" > "$MH_DIR/$rate-$mode.json"
  echo "  $mode at $rate: done in $((SECONDS - t0)) s"
}

echo "model $MODEL, batch $BATCH per conv worker, 2 conv workers, $STEPS steps; rates: $RATES; netem: $netem"
for rate in $RATES; do
  shape_all "$rate"
  for mode in STANZA PS; do run_job "$mode" "$rate"; done
done
shape_all none

python3 - "$MH_DIR" "$BATCH" "$RATES" <<'PY'
import json, sys
d, batch, rates = sys.argv[1], int(sys.argv[2]), sys.argv[3].split()
B = 2 * batch
print()
print("%-8s %-7s %12s %10s %16s %12s %12s %9s" % (
    "link", "mode", "s/step", "images/s", "bytes/step", "compute s", "comm s", "speedup"))
for rate in rates:
    t = {}
    for mode in ("STANZA", "PS"):
        m = json.load(open("%s/%s-%s.json" % (d, rate, mode)))["metrics"]
        ips = m["images_per_s"]
        t[mode] = B / ips
        print("%-8s %-7s %12.3f %10.1f %16.0f %12.2f %12.2f %9s" % (
            rate, mode, t[mode], ips, m["worker_bytes_per_step"],
            m["worker_compute_s"], m["worker_comm_s"],
            "" if mode == "STANZA" else "%.2fx" % (t["PS"] / t["STANZA"])))
print("\ns/step = global batch (2 x %d) / images/s (job); bytes/step = conv workers' "
      "application bytes per step, summed over both workers; compute/comm s summed "
      "over both workers; speedup = PS s/step / STANZA s/step." % batch)
PY
echo "logs and job status JSON in $MH_DIR"
