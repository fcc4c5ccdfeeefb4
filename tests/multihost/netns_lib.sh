#!/usr/bin/env bash
# Network-namespace "hosts" for Strata's multi-host tests and benchmark.
# Sourced by multihost_e2e_test.sh and bench_links.sh.
#
# Topology (nothing in the root namespace is created, changed or routed):
#
#   netns <P>sw   : bridge br0, ports p1..pN (veth ends)          "switch"
#   netns <P>h<i> : eth0 (veth peer of p<i>) = $MH_SUBNET.<i>/24, lo  "host i"
#
# Every address lives only inside these namespaces; nothing has a default
# route, so no packet can leave the bridge. Names include the caller's PID
# ($$) so concurrent runs do not collide.
#
#   mh_can_run                 -> 0, or prints why not (caller SKIPs)
#   mh_setup N                 create the switch and hosts 1..N
#   mh_ip I                    address of host I
#   mh_exec I CMD...           run CMD in host I (foreground)
#   mh_start I NAME CMD...     run CMD in host I in the background, log to
#                              $MH_DIR/NAME.log, pid recorded for cleanup
#   mh_alive NAME              true while NAME's process runs
#   mh_shape I RATE            tbf RATE on both directions of host I's link
#   mh_cleanup                 kill what mh_start started (TERM, then KILL
#                              after 5 s), delete every namespace; idempotent
#   mh_pki CERTS_SH            mutual TLS: a throwaway CA in $MH_DIR/pki and
#                              an admin certificate, exported as
#                              STRATA_TLS_* (stratactl picks them up)
#   mh_tls ROLE NAME I         sets MH_TLS to the --tls_* flags of NAME's
#                              certificate (role ROLE, host I's address)
#   mh_cluster NCONV PLAINTEXT [WORKER_FLAG...]
#                              Strata on hosts 1..4+NCONV: h1 coordinator
#                              at $MH_COORD, h2/h3 ps shards, h4 FC worker
#                              (role fc), h5.. conv workers (role conv),
#                              workers with WORKER_FLAGs; mutual TLS (mh_pki)
#                              unless PLAINTEXT is 1; returns once all
#                              registered. Needs BIN, REPO and CTL.
#
# Callers set MH_DIR (logs) before mh_setup.

MH_SUBNET=${MH_SUBNET:-10.213.7}
MH_PREFIX=${MH_PREFIX:-strata_mh$$_}
MH_HOSTS=0
declare -A MH_PIDS=()

mh_can_run() {
  if ! command -v ip >/dev/null 2>&1; then
    echo "'ip' (iproute2) is not installed"; return 1
  fi
  if [[ $(id -u) -ne 0 ]]; then
    echo "not running as root (network namespaces need CAP_NET_ADMIN)"; return 1
  fi
  local probe="${MH_PREFIX}probe"
  if ! ip netns add "$probe" >/dev/null 2>&1; then
    echo "'ip netns add' failed (no CAP_NET_ADMIN/CAP_SYS_ADMIN, or /run/netns not writable)"; return 1
  fi
  if ! ip -n "$probe" link add b0 type bridge >/dev/null 2>&1 ||
     ! ip -n "$probe" link add v0 type veth peer name v1 >/dev/null 2>&1; then
    ip netns del "$probe" >/dev/null 2>&1
    echo "bridge or veth devices cannot be created in a namespace"; return 1
  fi
  ip netns del "$probe" >/dev/null 2>&1
  return 0
}

mh_ns() { echo "${MH_PREFIX}h$1"; }
mh_ip() { echo "$MH_SUBNET.$1"; }

mh_setup() {
  local n="$1" i sw="${MH_PREFIX}sw" ns
  ip netns add "$sw"
  ip -n "$sw" link add br0 type bridge
  ip -n "$sw" link set br0 up
  ip -n "$sw" link set lo up
  for ((i = 1; i <= n; i++)); do
    ns=$(mh_ns "$i")
    ip netns add "$ns"
    MH_HOSTS=$i
    # Created inside the host namespace; the peer goes straight into the
    # switch namespace: neither end ever exists in the root namespace.
    ip -n "$ns" link add eth0 type veth peer name "p$i" netns "$sw"
    ip -n "$sw" link set "p$i" master br0
    ip -n "$sw" link set "p$i" up
    ip -n "$ns" addr add "$(mh_ip "$i")/24" dev eth0
    ip -n "$ns" link set eth0 up
    ip -n "$ns" link set lo up
  done
  # Wait (bounded) until every bridge port forwards (brport state 3) and
  # every host's eth0 is up (the daemons' own retries cover the rest).
  local deadline=$((SECONDS + 10)) st op
  for ((i = 1; i <= n; i++)); do
    while :; do
      st=$(ip netns exec "$sw" cat "/sys/class/net/p$i/brport/state" 2>/dev/null || echo 0)
      op=$(ip netns exec "$(mh_ns "$i")" cat /sys/class/net/eth0/operstate 2>/dev/null || echo down)
      [[ $st == 3 && $op == up ]] && break
      ((SECONDS < deadline)) || { echo "link of host $i not up (port state $st, eth0 $op)" >&2; return 1; }
      sleep 0.1
    done
  done
}

mh_exec() {
  local i="$1"; shift
  ip netns exec "$(mh_ns "$i")" "$@"
}

mh_start() {
  local i="$1" name="$2"; shift 2
  # `ip netns exec` execs the command, so $! is the daemon's own pid.
  ip netns exec "$(mh_ns "$i")" "$@" >"$MH_DIR/$name.log" 2>&1 </dev/null &
  MH_PIDS[$name]=$!
}

mh_alive() { kill -0 "${MH_PIDS[$1]}" 2>/dev/null; }

MH_CERTS=""
mh_pki() {
  MH_CERTS="$1"
  bash "$MH_CERTS" ca "$MH_DIR/pki" >/dev/null
  bash "$MH_CERTS" issue "$MH_DIR/pki" admin admin >/dev/null
  export STRATA_TLS_CA="$MH_DIR/pki/ca.crt" STRATA_TLS_CERT="$MH_DIR/pki/admin.crt" \
    STRATA_TLS_KEY="$MH_DIR/pki/admin.key"
}

mh_tls() {
  local role="$1" name="$2" i="$3" pki="$MH_DIR/pki"
  [[ -f "$pki/$name.crt" ]] ||
    bash "$MH_CERTS" issue "$pki" "$role" "$name" --ip "$(mh_ip "$i")" >/dev/null
  MH_TLS=(--tls_ca="$pki/ca.crt" --tls_cert="$pki/$name.crt" --tls_key="$pki/$name.key")
}

# tbf on the host's egress (eth0) and on the switch port's egress towards
# the host (p<i>): both directions of the link run at RATE.
mh_shape() {
  local i="$1" rate="$2" burst
  burst=$(( ${rate%gbit} * 256 ))kb   # ~2 ms worth of tokens at 1 Gbit/s
  ip netns exec "$(mh_ns "$i")" tc qdisc replace dev eth0 root tbf rate "$rate" burst "$burst" latency 20ms
  ip netns exec "${MH_PREFIX}sw" tc qdisc replace dev "p$i" root tbf rate "$rate" burst "$burst" latency 20ms
}

# Adds netem delay (one way, on the host's egress) if the kernel has netem;
# returns 1 otherwise (nothing changed).
mh_delay() {
  local i="$1" delay="$2" rate="$3"
  ip netns exec "$(mh_ns "$i")" tc qdisc replace dev eth0 root netem delay "$delay" rate "$rate" 2>/dev/null
}

mh_cleanup() {
  local name pid deadline
  for name in "${!MH_PIDS[@]}"; do
    kill -TERM "${MH_PIDS[$name]}" 2>/dev/null || true
  done
  deadline=$((SECONDS + 5))
  for name in "${!MH_PIDS[@]}"; do
    pid=${MH_PIDS[$name]}
    while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  MH_PIDS=()
  local i
  for ((i = 1; i <= MH_HOSTS; i++)); do
    ip netns del "$(mh_ns "$i")" 2>/dev/null || true
  done
  ip netns del "${MH_PREFIX}sw" 2>/dev/null || true
  ip netns del "${MH_PREFIX}probe" 2>/dev/null || true
  MH_HOSTS=0
}

# MH_TLS for NAME (ROLE, host I): its certificate after mh_pki, else
# --insecure.
_mh_flags() {
  if [[ -n $MH_CERTS ]]; then mh_tls "$@"; else MH_TLS=(--insecure); fi
}

mh_cluster() {
  local nconv="$1" plaintext="$2" s h c
  shift 2
  ((plaintext)) || mh_pki "$REPO/tools/certs.sh"
  MH_COORD=$(mh_ip 1):7000
  _mh_flags coordinator coordinator 1
  mh_start 1 coordinator "$BIN/server/strata_coordinator" \
    --listen="$MH_COORD" "${MH_TLS[@]}"
  for s in 0 1; do
    h=$((2 + s)); mkdir -p "$MH_DIR/data-h$h"
    _mh_flags shard "ps-$s" "$h"
    mh_start "$h" "ps-$s" "$BIN/server/ps_server" --listen="$(mh_ip $h):7100" \
      --advertise="$(mh_ip $h):7100" --shard_id=$s --num_shards=2 \
      --data_dir="$MH_DIR/data-h$h" --coordinator="$MH_COORD" "${MH_TLS[@]}"
  done
  _mh_flags worker fc-0 4
  mh_start 4 fc-0 "$BIN/worker/worker" --coordinator="$MH_COORD" --role=fc \
    --listen="$(mh_ip 4):7200" "$@" "${MH_TLS[@]}"
  for ((c = 0; c < nconv; c++)); do
    h=$((5 + c))
    _mh_flags worker "conv-$c" "$h"
    mh_start "$h" "conv-$c" "$BIN/worker/worker" --coordinator="$MH_COORD" \
      --role=conv "$@" "${MH_TLS[@]}"
  done
  mh_wait_nodes 1 "$MH_COORD" 2 $((1 + nconv)) 30 || { mh_tail_logs; return 1; }
}

# Waits until the coordinator on host $1 ($2 = its address) lists at least
# $3 alive ps nodes and $4 alive other nodes; $5 = timeout in seconds.
mh_wait_nodes() {
  local h="$1" addr="$2" want_ps="$3" want_other="$4" timeout_s="$5"
  local deadline=$((SECONDS + timeout_s)) json nps nother
  while ((SECONDS < deadline)); do
    json=$(mh_exec "$h" "$CTL" --coordinator="$addr" --timeout_s=2 --json nodes 2>/dev/null || true)
    nps=$(grep -o '"role":"[^"]*"[^}]*"alive":true' <<<"$json" | grep -c '^"role":"ps"' || true)
    nother=$(grep -o '"role":"[^"]*"[^}]*"alive":true' <<<"$json" | grep -vc '^"role":"ps"' || true)
    if ((nps >= want_ps && nother >= want_other)); then
      return 0
    fi
    sleep 0.3
  done
  echo "timed out after ${timeout_s}s: $nps/$want_ps shards, $nother/$want_other workers registered" >&2
  return 1
}

mh_tail_logs() {
  local f
  for f in "$MH_DIR"/*.log; do
    [[ -f "$f" ]] || continue
    echo "----- tail of $f -----" >&2
    tail -n 15 "$f" >&2 || true
  done
}
