#!/usr/bin/env bash
# ps_server's flags are checked at start-up: a bad value (--compress /
# --saec, --max_abs_gradient, a limit out of range) exits 2 with a message
# naming the flag, before the shard listens or loads anything (the parsing
# itself is unit-tested in server/ps).
set -euo pipefail

PS=${TEST_SRCDIR:-$PWD/..}/strata/server/ps_server
OUT=${TEST_TMPDIR:-/tmp}/ps_server_flags.$$

fail() { echo "FAIL: $*" >&2; exit 1; }

# expect_usage_error WORDS ARGS...: ps_server ARGS exits 2 and stderr holds
# WORDS.
expect_usage_error() {
  local words="$1" rc=0
  shift
  "$PS" --listen=127.0.0.1:0 "$@" 2> "$OUT" || rc=$?
  [[ $rc == 2 ]] || { cat "$OUT" >&2; fail "ps_server $* exited $rc, not 2"; }
  grep -qF -- "$words" "$OUT" || {
    cat "$OUT" >&2; fail "ps_server $*: no '$words' in stderr"; }
}

expect_usage_error "--saec is not a text-format strata.SaecConfig" \
  --compress=saec --saec='clusters: lots'
expect_usage_error "--saec: head_mass 1.5 is outside (0, 1]" \
  --compress=saec --saec='head_mass: 1.5'
expect_usage_error "--saec has no effect without --compress=saec" \
  --saec='clusters: 8'
expect_usage_error "full_kmeans: true" --compress=kmeans
expect_usage_error "--max_abs_gradient must be a positive finite float" \
  --max_abs_gradient=0
expect_usage_error "--max_abs_gradient must be a positive finite float" \
  --max_abs_gradient=inf
expect_usage_error "--max_message_mb 0 is outside [1, 2047]" --max_message_mb=0
expect_usage_error "--max_message_mb 4096 is outside [1, 2047]" \
  --max_message_mb=4096
expect_usage_error "--max_tables must be at least 1" --max_tables=0
expect_usage_error "--max_push_clients must be at least 1" --max_push_clients=0
expect_usage_error "--min_pollers 0 must be at least 1" --min_pollers=0
expect_usage_error "--max_pollers 2 is below --min_pollers 4" \
  --min_pollers=4 --max_pollers=2
expect_usage_error "--max_server_threads 8 must be 0 (no bound) or above" \
  --max_server_threads=8
echo PASS
