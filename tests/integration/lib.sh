# Shared set-up of the integration tests, sourced by each *_e2e_test.sh:
#   source "${TEST_SRCDIR:-$PWD/..}/strata/tests/integration/lib.sh"
#   e2e_dir NAME        DIR (a fresh scratch directory), SPECS under it, and
#                       a trap that stops the cluster started there
#   cluster_up ARGS...  deploy/local/cluster.sh up in DIR (+ ARGS; mutual TLS
#                       unless --plaintext), then sources DIR/env:
#                       STRATA_COORDINATOR and the admin's STRATA_TLS_*
#                       for stratactl
#   daemon_pids         the cluster's daemon pids, sorted, on one line
#   fail MSG / step MSG
# Binaries come from the test's runfiles (the sh_test's data).
RUNFILES=${TEST_SRCDIR:-$PWD/..}/strata
BIN=$RUNFILES
CLUSTER=$RUNFILES/deploy/local/cluster.sh
CTL=$BIN/tools/stratactl

fail() { echo "FAIL: $*" >&2; exit 1; }
step() { echo "--- $*"; }

e2e_dir() {
  DIR=${TEST_TMPDIR:-/tmp}/$1.$$
  SPECS=$DIR/specs
  mkdir -p "$SPECS"
  trap '"$CLUSTER" down "$DIR" >/dev/null 2>&1 || true' EXIT
}

cluster_up() {
  "$CLUSTER" up "$DIR" --bin_dir "$BIN" --timeout_s 60 "$@"
  # shellcheck source=/dev/null  # written by cluster.sh up
  source "$DIR/env"
}

daemon_pids() { awk '{print $2}' "$DIR/pids" | sort | tr '\n' ' '; }
