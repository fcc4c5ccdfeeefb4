#!/usr/bin/env bash
# Checks deploy/systemd:
#  1. systemd_units.py check: key=value syntax, the settings every unit needs
#     (Restart=on-failure, KillSignal=SIGTERM, TimeoutStopSec, User=strata...);
#  2. `systemd-analyze verify` on the units (binaries pointed at the built
#     ones), failing on any warning, and that it flags a misspelt key (only
#     where systemd-analyze exists; otherwise that part is skipped);
#  3. runs the daemons with the exact command lines systemd would build from
#     ExecStart, strata.env.example and per-instance env files: coordinator,
#     ps@0, ps@1 (own port via ps-1.env), worker@general, each with the
#     certificate its LoadCredential= lines name (made by tools/certs.sh in
#     the test's /etc/strata/pki, copied to a credentials directory as
#     systemd does); `stratactl health` and a small job pass with an admin
#     certificate, plaintext stratactl is refused; SIGTERM stops each within
#     its TimeoutStopSec with exit status 0.
set -euo pipefail

RUNFILES=${TEST_SRCDIR:-}/strata
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
[[ -d "$RUNFILES/deploy/systemd" ]] || RUNFILES="$(cd "$HERE/../.." && pwd)"
BIN=${STRATA_TEST_BIN_DIR:-$RUNFILES}
UNITS=$RUNFILES/deploy/systemd
PY="python3 $RUNFILES/tests/deploy/systemd_units.py"
TMP=${TEST_TMPDIR:-$(mktemp -d)}
D=$TMP/systemd.$$
mkdir -p "$D/units" "$D/etc"
PIDS=()
cleanup() { local p; for p in "${PIDS[@]+"${PIDS[@]}"}"; do kill -KILL "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; tail -n 20 "$D"/*.log >&2 2>/dev/null || true; exit 1; }

echo "--- syntax and required settings"
$PY check "$UNITS"/*.service || fail "unit syntax"

# Units with the built binaries in place of /opt/strata/bin.
for u in "$UNITS"/*.service; do
  sed -e "s#/opt/strata/bin/strata_coordinator#$BIN/server/strata_coordinator#" \
      -e "s#/opt/strata/bin/ps_server#$BIN/server/ps_server#" \
      -e "s#/opt/strata/bin/worker#$BIN/worker/worker#" "$u" > "$D/units/$(basename "$u")"
done

echo "--- systemd-analyze verify"
if command -v systemd-analyze >/dev/null; then
  verify() {  # verify UNIT_FILE... ; prints the warnings about our files
    local out
    out=$(cd "$D/units" && systemd-analyze verify --man=no "$@" 2>&1) || true
    grep -F '.service' <<<"$out" || true
  }
  ln -sf strata-ps@.service "$D/units/strata-ps@0.service"
  ln -sf strata-worker@.service "$D/units/strata-worker@general.service"
  out=$(verify ./strata-coordinator.service ./strata-ps@0.service ./strata-worker@general.service)
  [[ -z "$out" ]] || fail "systemd-analyze verify: $out"
  sed 's/^Restart=on-failure/Restartt=on-failure/' "$D/units/strata-coordinator.service" > "$D/units/broken.service"
  out=$(verify ./broken.service)
  [[ "$out" == *Restartt* ]] || fail "systemd-analyze verify did not flag a misspelt key"
  rm -f "$D/units/broken.service"
  echo "verify clean; a misspelt key is flagged: $out"
else
  echo "SKIP (part 2 only): systemd-analyze is not installed"
fi

echo "--- the daemons run with systemd's command lines"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
CPORT=$(free_port); P0=$(free_port); P1=$(free_port)
sed -e "s#^STRATA_COORDINATOR_LISTEN=.*#STRATA_COORDINATOR_LISTEN=127.0.0.1:$CPORT#" \
    -e "s#^STRATA_COORDINATOR=.*#STRATA_COORDINATOR=127.0.0.1:$CPORT#" \
    -e "s#^STRATA_DATA_DIR=.*#STRATA_DATA_DIR=$D/data#" \
    -e "s#^STRATA_COORDINATOR_STATE_DIR=.*#STRATA_COORDINATOR_STATE_DIR=$D/coordinator-state#" \
    -e "s#^STRATA_PS_BIND=.*#STRATA_PS_BIND=127.0.0.1#" \
    -e "s#^STRATA_PS_PORT=.*#STRATA_PS_PORT=$P0#" \
    -e "s#^\#STRATA_ADVERTISE_HOST=.*#STRATA_ADVERTISE_HOST=127.0.0.1#" \
    -e "s#^STRATA_METRICS_ADDRESS=.*#STRATA_METRICS_ADDRESS=127.0.0.1#" \
    -e "s#_METRICS_PORT=.*#_METRICS_PORT=0#" \
    "$UNITS/strata.env.example" > "$D/etc/strata.env"
grep -q "^STRATA_ADVERTISE_HOST=127.0.0.1" "$D/etc/strata.env" || fail "env example changed shape"
echo "STRATA_PS_PORT=$P1" > "$D/etc/ps-1.env"
mkdir -p "$D/data"
# The certificates the units' LoadCredential= lines name (loopback SANs).
CERTS="bash $RUNFILES/tools/certs.sh"
{ $CERTS cluster "$D/etc/pki" --shards 2 --users "admin:admin"
  $CERTS issue "$D/etc/pki" worker "$(python3 -c 'import socket; print(socket.gethostname())')"
} > "$D/certs.log" || fail "tools/certs.sh: $(cat "$D/certs.log")"

declare -A PID_OF
start() {  # start NAME UNIT INSTANCE
  local argv
  mapfile -t argv < <($PY argv "$D/units/$2" "$3" "$D/etc" "$D/creds/$1")
  printf '%s\n' "${argv[@]}" > "$D/$1.argv"
  echo "$1: ${argv[*]}" | sed "s#$BIN/##"
  "${argv[@]}" > "$D/$1.log" 2>&1 &
  PID_OF[$1]=$!
  PIDS+=("$!")
}
start coordinator strata-coordinator.service ""
start ps0 strata-ps@.service 0
start ps1 strata-ps@.service 1
start worker strata-worker@.service general
grep -q -- "--shard_id=1" <($PY argv "$D/units/strata-ps@.service" 1 "$D/etc") || fail "%i is not the shard id"
grep -q -- "--listen=127.0.0.1:$P1" <($PY argv "$D/units/strata-ps@.service" 1 "$D/etc") || fail "ps-1.env not applied"

PLAIN_CTL="$BIN/tools/stratactl --coordinator=127.0.0.1:$CPORT --timeout_s=2"
CTL="$PLAIN_CTL --tls_ca=$D/etc/pki/ca.crt --tls_cert=$D/etc/pki/admin.crt --tls_key=$D/etc/pki/admin.key"
deadline=$((SECONDS + 60))
until $CTL health > "$D/health.out" 2>&1 &&
      [[ $($CTL --json nodes 2>/dev/null | grep -o '"alive":true' | wc -l) -ge 3 ]]; do
  for n in "${!PID_OF[@]}"; do kill -0 "${PID_OF[$n]}" 2>/dev/null || fail "$n exited (see $D/$n.log)"; done
  ((SECONDS < deadline)) || fail "cluster not healthy after 60 s: $(cat "$D/health.out")"
  sleep 0.3
done
cat "$D/health.out"
grep -q -- "--tls_cert=$D/creds/ps1/tls.crt" <(sed "s#$BIN/##" "$D/ps1.argv") || fail "ps@1 got no --tls_cert"
cmp -s "$D/creds/ps1/tls.crt" "$D/etc/pki/ps-1.crt" || fail "ps@1 did not load /etc/strata/pki/ps-1.crt"
if $PLAIN_CTL --json nodes > "$D/plain.out" 2>&1; then
  fail "a plaintext stratactl was served: $(cat "$D/plain.out")"
fi
echo "plaintext stratactl refused: $(tail -n 1 "$D/plain.out")"
cat > "$D/load.textproto" <<'SPEC'
name: "systemd-load"
num_workers: 1
ps_load_test { table: "sd" dim: 4 keys_per_worker: 2000 batch_size: 512 rounds: 1 seed: 2 }
SPEC
$CTL submit "$D/load.textproto" --watch > "$D/job.out" 2>&1 || { cat "$D/job.out"; fail "job did not succeed"; }
tail -n 1 "$D/job.out"

stop() {  # stop NAME UNIT: SIGTERM, wait TimeoutStopSec, expect exit 0
  local pid=${PID_OF[$1]} limit rc=0
  limit=$(grep -m1 '^TimeoutStopSec=' "$D/units/$2" | cut -d= -f2)
  kill -TERM "$pid"
  local deadline=$((SECONDS + limit))
  while kill -0 "$pid" 2>/dev/null; do
    ((SECONDS < deadline)) || fail "$1 still running ${limit}s after SIGTERM"
    sleep 0.1
  done
  wait "$pid" || rc=$?
  [[ $rc -eq 0 ]] || fail "$1 exited $rc after SIGTERM"
  echo "$1 stopped cleanly on SIGTERM (exit 0, within ${limit}s)"
}
stop worker strata-worker@.service
stop ps0 strata-ps@.service
stop ps1 strata-ps@.service
stop coordinator strata-coordinator.service
echo "PASS"
