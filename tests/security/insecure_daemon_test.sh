#!/usr/bin/env bash
# --insecure at the daemon level (docs/security.md): plaintext off loopback
# is refused without it; with it the daemon starts, logs a WARNING and
# exports strata_insecure 1 on /metrics; on loopback strata_insecure is 0.
# Usage: insecure_daemon_test.sh PS_SERVER COORDINATOR
set -euo pipefail

PS="$1"
COORDINATOR="$2"
OUT=${TEST_TMPDIR:-/tmp}/insecure_daemon.$$
mkdir -p "$OUT"
PID=
cleanup() { [[ -z "$PID" ]] || kill "$PID" 2>/dev/null || true; }
trap cleanup EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }

# gauge BINARY ARGS...: starts BINARY ARGS with metrics on a free port,
# prints its strata_insecure value, stops it. Its stderr is left in
# $OUT/log.
gauge() {
  local bin="$1" port value="" try i
  shift
  for try in 1 2 3 4 5; do
    port=$((20000 + RANDOM % 40000))
    "$bin" --metrics_port="$port" "$@" 2> "$OUT/log" &
    PID=$!
    for i in $(seq 1 100); do
      value=$(curl -sf "http://127.0.0.1:$port/metrics" 2>/dev/null |
        sed -n 's/^strata_insecure \([0-9]*\)$/\1/p') || true
      [[ -z "$value" ]] || break
      kill -0 "$PID" 2>/dev/null || break
      sleep 0.1
    done
    kill "$PID" 2>/dev/null || true
    wait "$PID" 2>/dev/null || true
    PID=
    if [[ -n "$value" ]]; then echo "$value"; return; fi
  done
  cat "$OUT/log" >&2
  fail "$bin $*: no strata_insecure on /metrics"
}

# Refused without --insecure: exit 1 before serving.
rc=0
"$PS" --listen=0.0.0.0:0 2> "$OUT/refused" || rc=$?
[[ $rc == 1 ]] || { cat "$OUT/refused" >&2; fail "ps_server exited $rc"; }
grep -qF "refusing to listen on 0.0.0.0:0 without TLS" "$OUT/refused" ||
  { cat "$OUT/refused" >&2; fail "no refusal message"; }

for daemon in "$PS" "$COORDINATOR"; do
  [[ $(gauge "$daemon" --listen=0.0.0.0:0 --insecure) == 1 ]] ||
    fail "$daemon --insecure on 0.0.0.0: strata_insecure is not 1"
  grep -q "^W.*WITHOUT TLS (--insecure)" "$OUT/log" ||
    { cat "$OUT/log" >&2; fail "$daemon --insecure: no start-up WARNING"; }
  [[ $(gauge "$daemon" --listen=127.0.0.1:0) == 0 ]] ||
    fail "$daemon on loopback: strata_insecure is not 0"
done
echo PASS
