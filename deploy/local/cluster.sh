#!/usr/bin/env bash
# Runs a Strata cluster on this machine: one coordinator, N parameter-server
# shards and M workers, all on free loopback ports.
#
#   cluster.sh up DIR [--ps N] [--workers M] [--conv_workers C] [--fc_nodes F]
#                     [--bin_dir PATH] [--timeout_s S] [--ps_flags "FLAGS"]
#                     [--supervise] [--plaintext] [--users "NAME:ROLE ..."]
#                     [--data_root PATH]...
#   cluster.sh status DIR
#   cluster.sh restart DIR NAME
#   cluster.sh kill DIR NAME
#   cluster.sh down DIR
#
# `up` writes everything under DIR (replacing an earlier run's logs and
# addresses, keeping its checkpoints): coordinator.log, ps-<i>.log,
# worker-<j>.log (worker-conv-<j>.log, worker-fc-<j>.log for role workers),
# the bound addresses (worker-fc-<j>.addr: FC nodes serve StanzaFc) (coordinator.addr, ps-<i>.addr), the
# process ids (pids: one "NAME PID BINARY" line each), each process's
# arguments (NAME.args), the shards' checkpoints (data/) and the
# coordinator's state store (coordinator-state/: jobs, nodes and id counters,
# kept across `down` and `up` like data/). It returns once the coordinator and every shard answer
# health checks and every worker is registered; on a timeout or a crash it
# prints the logs' tails, stops what it started and exits 1.
#
# `restart` SIGKILLs one process (NAME as in DIR/pids: coordinator, ps-0,
# worker-1, ...) and starts it again with the same flags on the same
# address, appending to its log; it returns once a daemon with an address
# serves again (failure tests: tests/integration/coordinator_restart_e2e_test.sh).
#
# `up --supervise` also starts a supervisor (DIR/supervisor.pid, .log): a
# daemon that dies is started again 1 s later with the same flags on the
# same address, as systemd's Restart=on-failure would (shards reload their
# newest checkpoint, the coordinator its state store, workers register
# anew). `kill` SIGKILLs one process and nothing else (tests/chaos).
#
# Mutual TLS is on unless --plaintext: `up` keeps a throwaway CA and one
# certificate per daemon and user in DIR/pki (tools/certs.sh; kept across
# `down` and `up` like data/): coordinator, ps-<i> (role shard), one per
# worker named like its process (role worker), admin (role admin) and the
# --users. Every daemon gets --tls_ca/--tls_cert/--tls_key, and DIR/env
# exports STRATA_COORDINATOR and the admin's STRATA_TLS_* for stratactl:
#   source DIR/env && stratactl health
# Workers read job inputs only under DIR/inputs and the --data_root PATHs.
#
# `down` stops the supervisor first, then sends SIGTERM, waits up to 10 s, then SIGKILLs what is left; running
# it again, or on a directory without a cluster, does nothing.
#
# The script does not build. Binaries come from --bin_dir (default
# $REPO/bazel-bin): server/strata_coordinator (what //server:coordinator
# builds, since bazel-bin/server/coordinator is the output directory of the
# //server/coordinator package; a file server/coordinator is used if there
# is one), server/ps_server, worker/worker and tools/stratactl. See
# docs/stratactl.md.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
STOP_GRACE_S=10

usage() {
  cat <<EOF
usage: cluster.sh up DIR [--ps N] [--workers M] [--conv_workers C]
                         [--fc_nodes F] [--bin_dir PATH] [--timeout_s S]
                         [--ps_flags "FLAGS"] [--worker_flags "FLAGS"]
                         [--worker_bin PATH] [--supervise] [--plaintext]
                         [--users "NAME:ROLE ..."] [--data_root PATH]...
       cluster.sh status DIR
       cluster.sh restart DIR NAME
       cluster.sh kill DIR NAME
       cluster.sh down DIR

  up      start a coordinator, N ps shards (default 2) and M workers
          (default 1) on free 127.0.0.1 ports; logs, addresses and pids go
          to DIR. Waits up to S seconds (default 30) until all are serving.
          --conv_workers / --fc_nodes add C workers with role "conv" and F
          with role "fc" (FC nodes serve StanzaFc on a free port, written
          to DIR/worker-fc-<j>.addr) for CNN_TRAIN jobs (docs/stanza.md).
          --ps_flags passes extra flags to every ps_server (split on
          spaces), e.g. "--compress=saec --saec=clusters:64,min_features:200"
          (no spaces inside --saec: separate its fields with commas).
          --worker_flags passes extra flags to every worker the same way,
          e.g. "--task_isolation=thread".
          --worker_bin runs another worker program (default
          BIN_DIR/worker/worker), e.g. a test build with test-only tasks.
          The coordinator keeps its state in DIR/coordinator-state
          (--state_dir), kept across down and up.
          --supervise restarts a daemon that dies, 1 s later, with the
          same flags (log: DIR/supervisor.log).
          Mutual TLS with a throwaway CA in DIR/pki (kept across down and
          up): every daemon and user gets a certificate; 'source DIR/env'
          sets STRATA_COORDINATOR and the admin's STRATA_TLS_* for
          stratactl. --users adds user certificates (ROLE: admin,
          operator or reader), e.g. "alice:operator bob:reader".
          --plaintext runs without TLS (loopback only; for comparisons).
          Jobs may read files under DIR/inputs and each --data_root PATH.
  status  show the processes and run 'stratactl health'.
  restart SIGKILL the process NAME (as listed by status) and start it again
          with the same flags on the same address.
  kill    SIGKILL the process NAME only (with --supervise it comes back).
  down    stop everything started in DIR (SIGTERM, then SIGKILL after
          ${STOP_GRACE_S}s). Idempotent.

  --bin_dir defaults to $REPO/bazel-bin; build the binaries with
    bazel build //server:coordinator //server:ps_server //worker:worker //tools:stratactl
EOF
}

die() {
  echo "cluster.sh: $*" >&2
  exit 1
}

usage_error() {
  echo "cluster.sh: $*" >&2
  usage >&2
  exit 2
}

is_count() { [[ "$1" =~ ^(0|[1-9][0-9]{0,5})$ ]]; }

# --- certificates -------------------------------------------------------------

CERTS="$REPO/tools/certs.sh"

# Makes DIR/pki's CA if it has none and the certificate of every ROLE:NAME
# argument that it lacks (names are stable, so a later `up` reuses them).
ensure_certs() {
  local pki="$1/pki" spec
  shift
  [[ -f "$CERTS" ]] || die "missing $CERTS (tools/certs.sh); or run with --plaintext"
  command -v openssl >/dev/null || die "openssl is missing (tools/setup.sh installs it); or run with --plaintext"
  [[ -f "$pki/ca.key" ]] || bash "$CERTS" ca "$pki" >/dev/null
  for spec in "$@"; do
    [[ -f "$pki/${spec#*:}.crt" && -f "$pki/${spec#*:}.key" ]] && continue
    bash "$CERTS" issue "$pki" "${spec%%:*}" "${spec#*:}" >/dev/null
  done
}

# Sets TLS to the --tls_* flags of the certificate NAME in DIR/pki, or to
# nothing when DIR runs in plaintext (DIR/plaintext exists).
tls_flags() {
  local dir="$1" name="$2"
  TLS=()
  [[ -f "$dir/plaintext" ]] && return 0
  TLS=(--tls_ca="$dir/pki/ca.crt" --tls_cert="$dir/pki/$name.crt" --tls_key="$dir/pki/$name.key")
}

# Writes DIR/env: the coordinator's address and the admin's certificate for
# stratactl (`source DIR/env`).
write_env() {
  local dir="$1" addr="$2"
  {
    echo "export STRATA_COORDINATOR=$addr"
    if [[ -f "$dir/plaintext" ]]; then
      echo "unset STRATA_TLS_CA STRATA_TLS_CERT STRATA_TLS_KEY"
    else
      echo "export STRATA_TLS_CA=$dir/pki/ca.crt"
      echo "export STRATA_TLS_CERT=$dir/pki/admin.crt"
      echo "export STRATA_TLS_KEY=$dir/pki/admin.key"
    fi
  } >"$dir/env"
}

# --- process bookkeeping ----------------------------------------------------

# True if PID is alive and its command line still names BINARY (guards
# against pid reuse; a script shows up as "INTERPRETER BINARY ...").
pid_runs() {
  local pid="$1" binary="$2" args
  kill -0 "$pid" 2>/dev/null || return 1
  args="$(ps -p "$pid" -o args= 2>/dev/null)" || return 1
  [[ " $args " == *" $binary "* ]]
}

# Prints "NAME PID BINARY" lines of DIR/pids whose NAME matches the pattern.
pid_entries() {
  local dir="$1" pattern="$2" name pid binary
  [[ -f "$dir/pids" ]] || return 0
  while read -r name pid binary; do
    # shellcheck disable=SC2053  # $pattern is a glob on purpose
    [[ -n "${name:-}" && "$name" == $pattern ]] || continue
    echo "$name $pid $binary"
  done <"$dir/pids"
}

# Waits (up to 5 s) until the background process PID has exec'd BINARY:
# until then its command line is this script's, and pid_runs would call it
# dead (a loaded machine makes that window long).
await_exec() {
  local pid="$1" binary="$2" i
  for ((i = 0; i < 250; i++)); do
    pid_runs "$pid" "$binary" && return 0
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.02
  done
}

# Starts BINARY ARGS... in the background with output to DIR/NAME.log and
# records it in DIR/pids, its arguments in DIR/NAME.args (NUL-separated).
start_daemon() {
  local dir="$1" name="$2" binary="$3"
  shift 3
  printf '%s\0' "$@" >"$dir/$name.args"
  nohup "$binary" "$@" >"$dir/$name.log" 2>&1 </dev/null &
  echo "$name $! $binary" >>"$dir/pids"
  disown "$!"  # no "Killed" notices from this shell when `down` stops it
  await_exec "$!" "$binary"
}

# SIGTERMs the processes of DIR/pids whose name matches PATTERN, waits up to
# STOP_GRACE_S seconds, then SIGKILLs the rest. Prints how many it stopped.
stop_matching() {
  local dir="$1" pattern="$2" name pid binary
  local -a pids=()
  while read -r name pid binary; do
    [[ -n "${name:-}" ]] || continue
    if pid_runs "$pid" "$binary"; then
      kill -TERM "$pid" 2>/dev/null || true
      pids+=("$pid")
    fi
  done < <(pid_entries "$dir" "$pattern")
  local deadline=$((SECONDS + STOP_GRACE_S)) alive
  while ((${#pids[@]} > 0)); do
    alive=()
    for pid in "${pids[@]}"; do
      kill -0 "$pid" 2>/dev/null && alive+=("$pid")
    done
    pids=("${alive[@]+"${alive[@]}"}")
    ((${#pids[@]} == 0 || SECONDS >= deadline)) && break
    sleep 0.1
  done
  for pid in "${pids[@]+"${pids[@]}"}"; do
    echo "cluster.sh: pid $pid did not stop within ${STOP_GRACE_S}s; killing it" >&2
    kill -KILL "$pid" 2>/dev/null || true
  done
}

# --- up ---------------------------------------------------------------------

print_log_tails() {
  local dir="$1" log
  for log in "$dir"/coordinator.log "$dir"/ps-*.log "$dir"/worker-*.log; do
    [[ -f "$log" ]] || continue
    echo "----- tail of $log -----" >&2
    tail -n 20 "$log" >&2 || true
  done
}

# Prints the tails of the logs, stops the cluster and exits 1.
fail_up() {
  local dir="$1"
  shift
  echo "cluster.sh: $*" >&2
  print_log_tails "$dir"
  echo "cluster.sh: stopping what was started (logs kept in $dir)" >&2
  cmd_down "$dir" >/dev/null
  exit 1
}

# Empty if every recorded process is alive, else the name of a dead one.
dead_process() {
  local dir="$1" name pid binary
  while read -r name pid binary; do
    [[ -n "${name:-}" ]] || continue
    pid_runs "$pid" "$binary" || { echo "$name"; return 0; }
  done < <(pid_entries "$dir" '*')
}

# Number of alive nodes in `stratactl nodes --json` output ($1) whose role
# is ps ($2 = ps) or is not ps ($2 = other). NodeInfo has no nested objects,
# so each node's fields lie between its braces, role before alive.
count_nodes() {
  local json="$1" which="$2" matches
  matches="$(grep -o '"role":"[^"]*"[^}]*"alive":true' <<<"$json" || true)"
  [[ -n "$matches" ]] || { echo 0; return; }
  if [[ "$which" == ps ]]; then
    grep -c '^"role":"ps"' <<<"$matches" || true
  else
    grep -vc '^"role":"ps"' <<<"$matches" || true
  fi
}

# Waits until the cluster is ready; prints what it is still waiting for on
# timeout via fail_up.
wait_ready() {
  local dir="$1" ctl="$2" addr="$3" num_ps="$4" num_workers="$5" timeout_s="$6"
  local deadline=$((SECONDS + timeout_s)) waiting="" dead json i
  tls_flags "$dir" admin
  while ((SECONDS < deadline)); do
    dead="$(dead_process "$dir")"
    [[ -z "$dead" ]] || fail_up "$dir" "$dead exited during start-up (see $dir/$dead.log)"
    waiting=""
    for ((i = 0; i < num_ps; i++)); do
      [[ -s "$dir/ps-$i.addr" ]] || waiting="ps-$i to write $dir/ps-$i.addr"
    done
    if [[ -z "$waiting" ]]; then
      json="$("$ctl" --coordinator="$addr" "${TLS[@]+"${TLS[@]}"}" --timeout_s=2 --json nodes 2>/dev/null || true)"
      if (($(count_nodes "$json" ps) < num_ps)); then
        waiting="$num_ps ps shards to register"
      elif (($(count_nodes "$json" other) < num_workers)); then
        waiting="$num_workers workers to register"
      elif ! "$ctl" --coordinator="$addr" "${TLS[@]+"${TLS[@]}"}" --timeout_s=2 health >/dev/null 2>&1; then
        waiting="'stratactl health' to pass"
      else
        return 0
      fi
    fi
    sleep 0.2
  done
  fail_up "$dir" "timed out after ${timeout_s}s waiting for $waiting"
}

# Waits for FILE to be written by the process NAME.
wait_for_addr() {
  local dir="$1" name="$2" file="$3" timeout_s="$4"
  local deadline=$((SECONDS + timeout_s)) dead
  until [[ -s "$file" ]]; do
    dead="$(dead_process "$dir")"
    [[ -z "$dead" ]] || fail_up "$dir" "$dead exited during start-up (see $dir/$dead.log)"
    ((SECONDS < deadline)) || fail_up "$dir" "timed out after ${timeout_s}s waiting for $name to write $file"
    sleep 0.1
  done
}

check_binaries() {
  local missing=() bin
  for bin in "$@"; do
    [[ -f "$bin" && -x "$bin" ]] || missing+=("$bin")
  done
  ((${#missing[@]} == 0)) && return 0
  echo "cluster.sh: missing binaries:" >&2
  printf '  %s\n' "${missing[@]}" >&2
  echo "build them with:" >&2
  echo "  (cd $REPO && bazel build //server:coordinator //server:ps_server //worker:worker //tools:stratactl)" >&2
  echo "or point --bin_dir at a directory holding server/, worker/ and tools/." >&2
  exit 1
}

cmd_up() {
  [[ $# -ge 1 ]] || usage_error "up: missing DIR"
  local dir="$1" num_ps=2 num_workers=1 bin_dir="$REPO/bazel-bin" timeout_s=30
  local ps_flags="" num_conv=0 num_fc=0 worker_bin="" worker_flags="" supervise=0
  local plaintext=0 users="" data_roots=""
  shift
  while [[ $# -gt 0 ]]; do
    case "$1" in
      --ps) num_ps="${2:-}"; shift 2 || usage_error "--ps needs a value" ;;
      --ps=*) num_ps="${1#*=}"; shift ;;
      --workers) num_workers="${2:-}"; shift 2 || usage_error "--workers needs a value" ;;
      --workers=*) num_workers="${1#*=}"; shift ;;
      --conv_workers) num_conv="${2:-}"; shift 2 || usage_error "--conv_workers needs a value" ;;
      --conv_workers=*) num_conv="${1#*=}"; shift ;;
      --fc_nodes) num_fc="${2:-}"; shift 2 || usage_error "--fc_nodes needs a value" ;;
      --fc_nodes=*) num_fc="${1#*=}"; shift ;;
      --bin_dir) bin_dir="${2:-}"; shift 2 || usage_error "--bin_dir needs a value" ;;
      --bin_dir=*) bin_dir="${1#*=}"; shift ;;
      --timeout_s) timeout_s="${2:-}"; shift 2 || usage_error "--timeout_s needs a value" ;;
      --timeout_s=*) timeout_s="${1#*=}"; shift ;;
      --ps_flags) ps_flags="${2:-}"; shift 2 || usage_error "--ps_flags needs a value" ;;
      --ps_flags=*) ps_flags="${1#*=}"; shift ;;
      --worker_flags) worker_flags="${2:-}"; shift 2 || usage_error "--worker_flags needs a value" ;;
      --worker_flags=*) worker_flags="${1#*=}"; shift ;;
      --worker_bin) worker_bin="${2:-}"; shift 2 || usage_error "--worker_bin needs a value" ;;
      --worker_bin=*) worker_bin="${1#*=}"; shift ;;
      --supervise) supervise=1; shift ;;
      --plaintext) plaintext=1; shift ;;
      --users) users="${2:-}"; shift 2 || usage_error "--users needs a value" ;;
      --users=*) users="${1#*=}"; shift ;;
      --data_root) data_roots="$data_roots,$(realpath -e -- "${2:-}")" && shift 2 ||
        usage_error "--data_root needs an existing directory" ;;
      --data_root=*) data_roots="$data_roots,$(realpath -e -- "${1#*=}")" ||
        usage_error "--data_root needs an existing directory"; shift ;;
      *) usage_error "up: unknown argument '$1'" ;;
    esac
  done
  if ! is_count "$num_ps" || ((num_ps < 1)); then
    usage_error "--ps must be a positive integer, got '$num_ps'"
  fi
  if ! is_count "$num_workers"; then
    usage_error "--workers must be a non-negative integer, got '$num_workers'"
  fi
  if ! is_count "$num_conv" || ! is_count "$num_fc"; then
    usage_error "--conv_workers and --fc_nodes must be non-negative integers"
  fi
  if ! is_count "$timeout_s" || ((timeout_s < 1)); then
    usage_error "--timeout_s must be a positive integer, got '$timeout_s'"
  fi

  local coordinator="$bin_dir/server/strata_coordinator" ps_server="$bin_dir/server/ps_server"
  if [[ -f "$bin_dir/server/coordinator" && -x "$bin_dir/server/coordinator" ]]; then
    coordinator="$bin_dir/server/coordinator"
  fi
  local worker="${worker_bin:-$bin_dir/worker/worker}" ctl="$bin_dir/tools/stratactl"
  check_binaries "$coordinator" "$ps_server" "$worker" "$ctl"

  mkdir -p "$dir"
  dir="$(cd "$dir" && pwd)"
  [[ -z "$(running_names "$dir")" ]] ||
    die "a cluster is already running in $dir; run 'cluster.sh down $dir' first"
  # Logs of an earlier run would be mistaken for this one's (and a run with
  # fewer shards would leave some behind); checkpoints in data/ are kept.
  rm -f "$dir/pids" "$dir"/*.addr "$dir"/*.args "$dir"/coordinator.log \
    "$dir"/ps-*.log "$dir"/worker-*.log "$dir"/*.restarting \
    "$dir"/supervisor.{log,pid,stop} "$dir/plaintext" "$dir/env"
  mkdir -p "$dir/data" "$dir/inputs"
  # Flags name every certificate; a caller's STRATA_TLS_* (an earlier
  # cluster's env) must not reach the daemons.
  unset STRATA_TLS_CA STRATA_TLS_CERT STRATA_TLS_KEY
  if ((plaintext)); then
    touch "$dir/plaintext"
  else
    local -a certs=(coordinator:coordinator admin:admin)
    local u i
    for ((i = 0; i < num_ps; i++)); do certs+=("shard:ps-$i"); done
    for ((i = 0; i < num_workers; i++)); do certs+=("worker:worker-$i"); done
    for ((i = 0; i < num_conv; i++)); do certs+=("worker:worker-conv-$i"); done
    for ((i = 0; i < num_fc; i++)); do certs+=("worker:worker-fc-$i"); done
    for u in $users; do
      [[ "$u" == *:* ]] || usage_error "--users: expected NAME:ROLE, got '$u'"
      certs+=("${u#*:}:${u%%:*}")
    done
    ensure_certs "$dir" "${certs[@]}"
  fi
  trap 'echo "cluster.sh: interrupted" >&2; cmd_down "$dir" >/dev/null; exit 130' INT TERM

  tls_flags "$dir" coordinator
  start_daemon "$dir" coordinator "$coordinator" \
    --listen=127.0.0.1:0 --port_file="$dir/coordinator.addr" \
    --state_dir="$dir/coordinator-state" "${TLS[@]+"${TLS[@]}"}"
  local addr i
  wait_for_addr "$dir" coordinator "$dir/coordinator.addr" "$timeout_s"
  addr="$(cat "$dir/coordinator.addr")"
  local -a extra_ps=()
  # shellcheck disable=SC2206  # word splitting of --ps_flags is the point
  [[ -z "$ps_flags" ]] || extra_ps=($ps_flags)
  for ((i = 0; i < num_ps; i++)); do
    tls_flags "$dir" "ps-$i"
    start_daemon "$dir" "ps-$i" "$ps_server" \
      --listen=127.0.0.1:0 --port_file="$dir/ps-$i.addr" --shard_id="$i" \
      --num_shards="$num_ps" --data_dir="$dir/data" --coordinator="$addr" \
      "${TLS[@]+"${TLS[@]}"}" "${extra_ps[@]+"${extra_ps[@]}"}"
  done
  # Workers read job inputs only under DIR/inputs and the --data_roots.
  local -a extra_w=(--data_root="$dir/inputs$data_roots")
  # shellcheck disable=SC2206  # as --ps_flags
  [[ -z "$worker_flags" ]] || extra_w+=($worker_flags)
  for ((i = 0; i < num_workers; i++)); do
    tls_flags "$dir" "worker-$i"
    start_daemon "$dir" "worker-$i" "$worker" --coordinator="$addr" --role=general \
      "${TLS[@]+"${TLS[@]}"}" "${extra_w[@]+"${extra_w[@]}"}"
  done
  for ((i = 0; i < num_conv; i++)); do
    tls_flags "$dir" "worker-conv-$i"
    start_daemon "$dir" "worker-conv-$i" "$worker" --coordinator="$addr" --role=conv \
      "${TLS[@]+"${TLS[@]}"}" "${extra_w[@]+"${extra_w[@]}"}"
  done
  for ((i = 0; i < num_fc; i++)); do
    tls_flags "$dir" "worker-fc-$i"
    start_daemon "$dir" "worker-fc-$i" "$worker" --coordinator="$addr" --role=fc \
      --listen=127.0.0.1:0 --port_file="$dir/worker-fc-$i.addr" \
      "${TLS[@]+"${TLS[@]}"}" "${extra_w[@]+"${extra_w[@]}"}"
  done
  write_env "$dir" "$addr"
  wait_ready "$dir" "$ctl" "$addr" "$num_ps" "$((num_workers + num_conv + num_fc))" "$timeout_s"
  trap - INT TERM
  if ((supervise)); then
    local self
    self="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")"
    nohup bash "$self" supervise "$dir" >"$dir/supervisor.log" 2>&1 </dev/null &
    echo "$! $self" >"$dir/supervisor.pid"
    disown "$!"
  fi

  local roles="" transport="mutual TLS (certificates in $dir/pki)"
  ((num_conv + num_fc == 0)) || roles=", $num_conv conv workers, $num_fc FC nodes"
  ((plaintext)) && transport="plaintext"
  echo "cluster up in $dir: coordinator $addr, $num_ps ps shards, $num_workers workers$roles; $transport"
  echo "  source $dir/env"
  echo "  $ctl health"
  echo "  $0 down $dir"
}

# Names of the recorded processes that are still running.
running_names() {
  local dir="$1" name pid binary
  while read -r name pid binary; do
    [[ -n "${name:-}" ]] || continue
    pid_runs "$pid" "$binary" && echo "$name"
  done < <(pid_entries "$dir" '*')
  return 0
}

# --- restart ----------------------------------------------------------------

# Starts the recorded process NAME again with its recorded flags on the
# address it had (--listen=...:0 becomes the bound address), appending to
# its log, and records the new pid. Prints the new pid. Holds DIR/pids.lock
# while it rewrites DIR/pids (the supervisor and `restart` both call it).
respawn() {
  local dir="$1" name="$2" binary="$3" addr="" i newpid
  local -a args=()
  mapfile -d '' args <"$dir/$name.args"
  [[ -s "$dir/$name.addr" ]] && addr="$(cat "$dir/$name.addr")"
  if [[ -n "$addr" ]]; then
    for i in "${!args[@]}"; do
      [[ "${args[$i]}" == --listen=* ]] && args[i]="--listen=$addr"
    done
  fi
  rm -f "$dir/$name.addr"
  echo "--- restarted $(date -u +%FT%T.%3NZ) ---" >>"$dir/$name.log"
  nohup "$binary" "${args[@]}" >>"$dir/$name.log" 2>&1 </dev/null &
  newpid=$!
  disown "$newpid"
  await_exec "$newpid" "$binary"
  (
    flock 9
    grep -v "^$name " "$dir/pids" >"$dir/pids.new" || true
    echo "$name $newpid $binary" >>"$dir/pids.new"
    mv "$dir/pids.new" "$dir/pids"
  ) 9>"$dir/pids.lock"
  # The address file tells that it serves again (nodes and clients know the
  # address); restored on timeout so a later restart keeps the address.
  if [[ -n "$addr" ]]; then
    local deadline=$((SECONDS + 30))
    until [[ -s "$dir/$name.addr" ]]; do
      if ! pid_runs "$newpid" "$binary" || ((SECONDS >= deadline)); then
        echo "$addr" >"$dir/$name.addr"
        echo "$newpid"
        return 1
      fi
      sleep 0.05
    done
  fi
  echo "$newpid"
}

cmd_restart() {
  [[ $# -eq 2 ]] || usage_error "restart: expected DIR NAME"
  local dir="$1" name="$2" entry pid binary newpid
  entry="$(pid_entries "$dir" "$name" | tail -n 1)"
  [[ -n "$entry" && -f "$dir/$name.args" ]] || die "no process '$name' recorded in $dir"
  read -r _ pid binary <<<"$entry"
  # A supervisor would restart it too: it skips NAME while this runs.
  touch "$dir/$name.restarting"
  if pid_runs "$pid" "$binary"; then
    kill -KILL "$pid" 2>/dev/null || true
    while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
  fi
  if ! newpid="$(respawn "$dir" "$name" "$binary")"; then
    rm -f "$dir/$name.restarting"
    die "$name did not serve again within 30s of its restart (see $dir/$name.log)"
  fi
  rm -f "$dir/$name.restarting"
  echo "restarted $name (pid $pid -> $newpid)"
}

# SIGKILLs the process NAME and nothing else (a supervisor, if running,
# starts it again: the way tests/chaos kills daemons).
cmd_kill() {
  [[ $# -eq 2 ]] || usage_error "kill: expected DIR NAME"
  local dir="$1" name="$2" entry pid binary
  entry="$(pid_entries "$dir" "$name" | tail -n 1)"
  [[ -n "$entry" ]] || die "no process '$name' recorded in $dir"
  read -r _ pid binary <<<"$entry"
  pid_runs "$pid" "$binary" || die "$name (pid $pid) is not running"
  kill -KILL "$pid"
  echo "killed $name (pid $pid)"
}

# --- supervise ----------------------------------------------------------------

# The supervisor (`up --supervise`): every 0.2 s, a recorded process that
# died is started again with the same flags SUPERVISE_DELAY_S later, as
# systemd's Restart=on-failure would. Runs until DIR/supervisor.stop exists
# (`down` creates it). Logs to DIR/supervisor.log: one line per restart.
SUPERVISE_DELAY_S=1
cmd_supervise() {
  [[ $# -eq 1 ]] || usage_error "supervise: expected DIR"
  local dir="$1" name pid binary newpid
  while [[ ! -f "$dir/supervisor.stop" ]]; do
    while read -r name pid binary; do
      [[ -n "${name:-}" && ! -f "$dir/$name.restarting" ]] || continue
      pid_runs "$pid" "$binary" && continue
      [[ -f "$dir/supervisor.stop" ]] && return 0
      echo "$(date -u +%FT%T.%3NZ) $name (pid $pid) died; restarting in ${SUPERVISE_DELAY_S}s"
      sleep "$SUPERVISE_DELAY_S"
      [[ -f "$dir/supervisor.stop" ]] && return 0
      if newpid="$(respawn "$dir" "$name" "$binary")"; then
        echo "$(date -u +%FT%T.%3NZ) $name restarted: pid $newpid"
      else
        echo "$(date -u +%FT%T.%3NZ) $name (pid $newpid) did not serve within 30s"
      fi
    done < <(pid_entries "$dir" '*')
    sleep 0.2
  done
}

# --- down / status ------------------------------------------------------------

# Stops the supervisor of DIR, if any, and waits for it to exit (so it
# restarts nothing that `down` stops).
stop_supervisor() {
  local dir="$1" pid
  local self
  [[ -f "$dir/supervisor.pid" ]] || return 0
  touch "$dir/supervisor.stop"
  read -r pid self <"$dir/supervisor.pid"
  if pid_runs "$pid" "$self"; then
    local deadline=$((SECONDS + 40))
    while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$dir/supervisor.pid" "$dir/supervisor.stop"
}

cmd_down() {
  [[ $# -eq 1 ]] || usage_error "down: expected DIR"
  local dir="$1"
  if [[ ! -f "$dir/pids" ]]; then
    echo "no cluster recorded in $dir"
    return 0
  fi
  local running
  stop_supervisor "$dir"
  running="$(running_names "$dir" | wc -l)"
  # Workers and shards first, so they do not log reconnect errors while the
  # coordinator is gone.
  stop_matching "$dir" 'worker-*'
  stop_matching "$dir" 'ps-*'
  stop_matching "$dir" 'coordinator'
  rm -f "$dir/pids" "$dir"/*.addr "$dir"/*.args
  echo "stopped $running processes in $dir (logs kept)"
}

cmd_status() {
  [[ $# -eq 1 ]] || usage_error "status: expected DIR"
  local dir="$1" name pid binary state addr ok=0
  if [[ ! -f "$dir/pids" ]]; then
    echo "no cluster recorded in $dir"
    return 1
  fi
  printf '%-14s %-8s %-8s %s\n' NAME PID STATE ADDRESS
  while read -r name pid binary; do
    [[ -n "${name:-}" ]] || continue
    if pid_runs "$pid" "$binary"; then state=running; else state=dead; ok=1; fi
    addr="-"
    [[ -s "$dir/$name.addr" ]] && addr="$(cat "$dir/$name.addr")"
    printf '%-14s %-8s %-8s %s\n' "$name" "$pid" "$state" "$addr"
  done < <(pid_entries "$dir" '*')
  local ctl
  ctl="$(pid_entries "$dir" 'coordinator' | awk '{print $3}')"
  ctl="$(dirname "$(dirname "${ctl:-/none/x}")")/tools/stratactl"
  if [[ -s "$dir/coordinator.addr" && -x "$ctl" ]]; then
    echo
    tls_flags "$dir" admin
    "$ctl" --coordinator="$(cat "$dir/coordinator.addr")" "${TLS[@]+"${TLS[@]}"}" health || ok=1
  fi
  return "$ok"
}

main() {
  [[ $# -ge 1 ]] || usage_error "missing command"
  local command="$1"
  shift
  case "$command" in
    up) cmd_up "$@" ;;
    down) cmd_down "$@" ;;
    status) cmd_status "$@" ;;
    restart) cmd_restart "$@" ;;
    kill) cmd_kill "$@" ;;
    supervise) cmd_supervise "$@" ;;
    -h | --help | help) usage ;;
    *) usage_error "unknown command '$command'" ;;
  esac
}

main "$@"
