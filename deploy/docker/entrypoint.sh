#!/bin/sh
# Container entrypoint: the first argument names the daemon, the rest are its
# flags. `exec` keeps the daemon as PID 1 so it receives SIGTERM directly.
set -eu
bin=/opt/strata/bin
daemon="${1:---help}"
[ "$#" -gt 0 ] && shift
case "$daemon" in
  coordinator) exec "$bin/strata_coordinator" "$@" ;;
  ps | ps_server) exec "$bin/ps_server" "$@" ;;
  worker) exec "$bin/worker" "$@" ;;
  stratactl) exec "$bin/stratactl" "$@" ;;
  -h | --help | help)
    echo "usage: strata-entrypoint coordinator|ps|worker|stratactl [FLAGS...]"
    exit 0 ;;
  *)
    echo "strata-entrypoint: unknown daemon '$daemon' (coordinator, ps, worker, stratactl)" >&2
    exit 2 ;;
esac
