#!/bin/sh
# Container entrypoint: the first argument names the daemon, the rest are its
# flags. `exec` keeps the daemon as PID 1 so it receives SIGTERM directly.
#
# Mutual TLS (docs/security.md): the binaries take --tls_ca/--tls_cert/
# --tls_key, or $STRATA_TLS_CA/$STRATA_TLS_CERT/$STRATA_TLS_KEY when those
# flags are empty (`docker run -e` passes them through). When none of the
# three variables is set and $STRATA_TLS_DIR (default /etc/strata/tls) holds
# ca.crt, tls.crt and tls.key (cert-manager's names; mount a Secret or a
# certs.sh directory there), this script sets them to those files.
# `certs` runs tools/certs.sh (with the image's openssl).
set -eu
bin=${STRATA_BIN_DIR:-/opt/strata/bin}
tls_dir=${STRATA_TLS_DIR:-/etc/strata/tls}
daemon="${1:---help}"
[ "$#" -gt 0 ] && shift
if [ -z "${STRATA_TLS_CA:-}${STRATA_TLS_CERT:-}${STRATA_TLS_KEY:-}" ] &&
   [ -f "$tls_dir/ca.crt" ] && [ -f "$tls_dir/tls.crt" ] && [ -f "$tls_dir/tls.key" ]; then
  export STRATA_TLS_CA="$tls_dir/ca.crt" STRATA_TLS_CERT="$tls_dir/tls.crt"
  export STRATA_TLS_KEY="$tls_dir/tls.key"
fi
case "$daemon" in
  coordinator) exec "$bin/strata_coordinator" "$@" ;;
  ps | ps_server) exec "$bin/ps_server" "$@" ;;
  worker) exec "$bin/worker" "$@" ;;
  stratactl) exec "$bin/stratactl" "$@" ;;
  certs) exec bash "$bin/certs.sh" "$@" ;;
  -h | --help | help)
    echo "usage: strata-entrypoint coordinator|ps|worker|stratactl|certs [ARGS...]"
    exit 0 ;;
  *)
    echo "strata-entrypoint: unknown command '$daemon' (coordinator, ps, worker, stratactl, certs)" >&2
    exit 2 ;;
esac
