#!/usr/bin/env bash
# Runs a Strata cluster inside a Slurm allocation and one job on it; called
# from the batch scripts (strata-hetjob.sbatch, strata-cpu.sbatch):
#
#   strata_job.sh SPEC_FILE
#
# Heterogeneous allocation (SLURM_HET_SIZE >= 2): component 0 (CPU nodes)
# runs the coordinator on its first node, STRATA_NUM_SHARDS shards and
# STRATA_NUM_FC FC nodes spread over its nodes; component 1 (--gres=gpu)
# runs one conv worker per node. A plain allocation runs everything on its
# nodes and no conv workers. STRATA_NUM_GENERAL general workers run on
# component 0 (default 0; the CPU-only script sets 1).
#
# Every daemon is its own srun step (so Slurm tracks, signals and accounts
# for it), binds its node's name with port 0 and writes the bound address to
# STRATA_WORKDIR, which must be on a filesystem shared by the nodes. The
# script waits for the coordinator, for every shard and worker to register,
# submits SPEC_FILE with `stratactl submit --watch`, stops the daemons and
# exits with stratactl's status (0: the job SUCCEEDED).
#
# Every connection is mutual TLS (docs/security.md). The script makes a
# throwaway CA for this job with tools/certs.sh in STRATA_WORKDIR/pki (mode
# 0700, readable only by the job's user): one certificate per daemon named
# as its identity (coordinator, ps-<i>; a worker certificate per node named
# after the node), with the job's node hostnames as DNS SANs, and an
# operator certificate named after the job's user for this script's
# stratactl. It deletes the CA key once everything is issued and the whole
# directory when the job ends.
#
# Environment: STRATA_BIN_DIR (a directory with strata_coordinator,
# ps_server, worker and stratactl, or bazel-bin's server/, worker/, tools/;
# default /opt/strata/bin), STRATA_WORKDIR (default
# $SLURM_SUBMIT_DIR/strata-$SLURM_JOB_ID), STRATA_NUM_SHARDS (2),
# STRATA_NUM_FC (1 in a heterogeneous job, else 0), STRATA_NUM_GENERAL (0),
# STRATA_PS_FLAGS, STRATA_WORKER_FLAGS (extra flags, split on spaces),
# STRATA_START_TIMEOUT_S (120), STRATA_CERTS (tools/certs.sh; default
# $STRATA_HOME/tools/certs.sh, else certs.sh in STRATA_BIN_DIR).
set -euo pipefail

die() { echo "strata_job: $*" >&2; exit 2; }
log() { echo "strata_job: $(date +%T) $*"; }

[[ $# -eq 1 ]] || die "usage: strata_job.sh SPEC_FILE"
SPEC="$(realpath "$1")" || die "no job spec $1"
[[ -n "${SLURM_JOB_ID:-}" ]] || die "not inside a Slurm allocation (SLURM_JOB_ID unset)"

BIN_DIR=${STRATA_BIN_DIR:-/opt/strata/bin}
bin() {
  local name="$1" sub="$2"
  if [[ -f "$BIN_DIR/$name" && -x "$BIN_DIR/$name" ]]; then echo "$BIN_DIR/$name"
  elif [[ -f "$BIN_DIR/$sub/$name" && -x "$BIN_DIR/$sub/$name" ]]; then echo "$BIN_DIR/$sub/$name"
  else die "no $name in $BIN_DIR (set STRATA_BIN_DIR)"; fi
}
COORDINATOR_BIN=$(bin strata_coordinator server)
PS_BIN=$(bin ps_server server)
WORKER_BIN=$(bin worker worker)
CTL=$(bin stratactl tools)
CERTS=${STRATA_CERTS:-${STRATA_HOME:-}/tools/certs.sh}
[[ -f "$CERTS" ]] || CERTS=$BIN_DIR/certs.sh
[[ -f "$CERTS" ]] || die "no tools/certs.sh (set STRATA_CERTS or STRATA_HOME)"

WORK=${STRATA_WORKDIR:-${SLURM_SUBMIT_DIR:-$PWD}/strata-$SLURM_JOB_ID}
mkdir -p "$WORK/data"
rm -f "$WORK"/*.addr
NUM_SHARDS=${STRATA_NUM_SHARDS:-2}
HET=0
[[ "${SLURM_HET_SIZE:-1}" -ge 2 ]] && HET=1
NUM_FC=${STRATA_NUM_FC:-$HET}
NUM_GENERAL=${STRATA_NUM_GENERAL:-0}
TIMEOUT_S=${STRATA_START_TIMEOUT_S:-120}

# Hosts of each component, from Slurm's environment.
CPU_NODELIST=${SLURM_JOB_NODELIST_HET_GROUP_0:-$SLURM_JOB_NODELIST}
mapfile -t CPU_HOSTS < <(scontrol show hostnames "$CPU_NODELIST")
COORD_HOST=${CPU_HOSTS[0]}
NUM_CONV=0
GROUP0=()
GROUP1=()
if ((HET)); then
  mapfile -t GPU_HOSTS < <(scontrol show hostnames "$SLURM_JOB_NODELIST_HET_GROUP_1")
  NUM_CONV=${#GPU_HOSTS[@]}
  GROUP0=(--het-group=0)
  GROUP1=(--het-group=1)
fi
log "job $SLURM_JOB_ID: cpu nodes ${CPU_HOSTS[*]} (coordinator on $COORD_HOST)" \
    "${GPU_HOSTS:+gpu nodes ${GPU_HOSTS[*]}}; $NUM_SHARDS shards, $NUM_FC fc," \
    "$NUM_CONV conv, $NUM_GENERAL general workers; logs in $WORK"

# The job's certificates (docs/security.md): a CA that lives as long as the
# job, one certificate per daemon and node, the CA key deleted once issued.
# Daemons' files go to pki/daemon/, nodes' to pki/node/, stratactl's to
# pki/user/, so that no node name can clash with a daemon's or user's name.
PKI=$WORK/pki
issue() {  # issue SUBDIR ROLE NAME [certs.sh issue flags]: into PKI/SUBDIR
  local sub="$1" name="$3"
  bash "$CERTS" issue "$PKI" "${@:2}" --days 30 &&
    mkdir -p "$PKI/$sub" && mv "$PKI/$name.crt" "$PKI/$name.key" "$PKI/$sub/"
}
issue_all() {  # (set -e does not apply here: called with ||)
  local -a cpu_dns=() host
  local i
  for host in "${CPU_HOSTS[@]}"; do cpu_dns+=(--dns "$host"); done
  bash "$CERTS" ca "$PKI" --days 30 || return 1
  issue daemon coordinator coordinator --dns "$COORD_HOST" || return 1
  # Shard i runs on whichever CPU node Slurm places task i: every one.
  for ((i = 0; i < NUM_SHARDS; i++)); do
    issue daemon shard "ps-$i" "${cpu_dns[@]}" || return 1
  done
  for host in "${CPU_HOSTS[@]}" "${GPU_HOSTS[@]+"${GPU_HOSTS[@]}"}"; do
    issue node worker "$host" --dns "$host" || return 1
  done
  issue user operator "$CTL_NAME"
}
make_certs() {
  rm -rf "$PKI"
  mkdir -m 0700 "$PKI"
  issue_all > "$WORK/certs.log" 2>&1 ||
    { cat "$WORK/certs.log" >&2; rm -rf "$PKI"; die "tools/certs.sh failed"; }
  rm -f "$PKI/ca.key" "$PKI/ca.srl"
}
# The identity of this script's stratactl: the job's user, as an operator.
CTL_NAME=$(tr -c 'A-Za-z0-9_.\n-' _ <<<"${SLURM_JOB_USER:-${USER:-strata}}")
make_certs
# tls FILE: the --tls_* flags of a daemon whose certificate is PKI/FILE.crt
# (quoted for the step's bash -c; FILE may name a task variable, e.g.
# node/\$SLURMD_NODENAME).
tls() { echo "--tls_ca='$PKI/ca.crt' --tls_cert='$PKI/'$1.crt --tls_key='$PKI/'$1.key"; }
CTL=("$CTL" --tls_ca="$PKI/ca.crt" --tls_cert="$PKI/user/$CTL_NAME.crt" --tls_key="$PKI/user/$CTL_NAME.key")
log "certificates in $PKI (mode $(stat -c %a "$PKI"), CA key deleted)"

# Daemon steps share the allocation's CPUs with each other and this script.
SRUN=(srun --overlap --overcommit --kill-on-bad-exit=0 --export=ALL)
STEP_PIDS=()
step() {  # step NAME SRUN_ARGS... -- COMMAND (run through bash -c per task)
  local name="$1"; shift
  local -a args=()
  while [[ "$1" != -- ]]; do args+=("$1"); shift; done
  shift
  "${SRUN[@]}" "${args[@]}" --job-name="strata-$name" \
    --output="$WORK/$name-%t.log" bash -c "$1" &
  STEP_PIDS+=("$!")
}

# shellcheck disable=SC2317  # invoked by the EXIT trap
stop_all() {
  ((${#STEP_PIDS[@]})) || return 0
  log "stopping ${#STEP_PIDS[@]} daemon steps"
  # SIGTERM to every step's tasks (not the batch step): the daemons shut
  # down cleanly, then their srun processes exit.
  scancel --signal=TERM "$SLURM_JOB_ID" 2>/dev/null || kill -TERM "${STEP_PIDS[@]}" 2>/dev/null || true
  local deadline=$((SECONDS + 30)) pid
  for pid in "${STEP_PIDS[@]}"; do
    while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.5; done
  done
  kill -KILL "${STEP_PIDS[@]}" 2>/dev/null || true
  wait 2>/dev/null || true
  STEP_PIDS=()
}
# shellcheck disable=SC2317  # invoked by the EXIT trap
on_exit() {
  stop_all
  rm -rf "$PKI"
}
trap on_exit EXIT
trap 'exit 143' TERM INT

wait_file() {  # wait_file FILE WHAT
  local deadline=$((SECONDS + TIMEOUT_S))
  until [[ -s "$1" ]]; do
    ((SECONDS < deadline)) || { tail -n 20 "$WORK"/*.log >&2 || true; die "timed out waiting for $2"; }
    sleep 0.5
  done
}

# Node names and SLURM_PROCID are read inside each task (single quotes).
step coordinator "${GROUP0[@]}" --nodes=1 --ntasks=1 --nodelist="$COORD_HOST" -- \
  "exec '$COORDINATOR_BIN' --listen=\$SLURMD_NODENAME:0 --port_file='$WORK/coordinator.addr' \
     --state_dir='$WORK/coordinator-state' $(tls daemon/coordinator)"
wait_file "$WORK/coordinator.addr" "the coordinator"
COORD=$(cat "$WORK/coordinator.addr")
export STRATA_COORDINATOR=$COORD
log "coordinator at $COORD"

# Shards: task i of this step is shard i (SLURM_PROCID), cyclic over the nodes.
step ps "${GROUP0[@]}" --ntasks="$NUM_SHARDS" --distribution=cyclic -- \
  "exec '$PS_BIN' --listen=\$SLURMD_NODENAME:0 --port_file='$WORK/ps-'\$SLURM_PROCID.addr \
     --shard_id=\$SLURM_PROCID --num_shards=\$SLURM_NTASKS --data_dir='$WORK/data' \
     --coordinator='$COORD' $(tls "daemon/ps-\$SLURM_PROCID") ${STRATA_PS_FLAGS:-}"
if ((NUM_FC > 0)); then
  step fc "${GROUP0[@]}" --ntasks="$NUM_FC" --distribution=cyclic -- \
    "exec '$WORKER_BIN' --coordinator='$COORD' --role=fc --listen=\$SLURMD_NODENAME:0 \
       --port_file='$WORK/fc-'\$SLURM_PROCID.addr $(tls "node/\$SLURMD_NODENAME") ${STRATA_WORKER_FLAGS:-}"
fi
if ((NUM_GENERAL > 0)); then
  step general "${GROUP0[@]}" --ntasks="$NUM_GENERAL" --distribution=cyclic -- \
    "exec '$WORKER_BIN' --coordinator='$COORD' --role=general $(tls "node/\$SLURMD_NODENAME") ${STRATA_WORKER_FLAGS:-}"
fi
if ((NUM_CONV > 0)); then
  # One conv worker per GPU node; it sees the GPUs Slurm bound to it.
  step conv "${GROUP1[@]}" --ntasks-per-node=1 -- \
    "exec '$WORKER_BIN' --coordinator='$COORD' --role=conv $(tls "node/\$SLURMD_NODENAME") ${STRATA_WORKER_FLAGS:-}"
fi

# Wait until every shard and worker has registered and health passes.
count_alive() {  # count_alive JSON ROLE
  { grep -o "\"role\":\"$2\"[^}]*\"alive\":true" <<<"$1" || true; } | wc -l
}
deadline=$((SECONDS + TIMEOUT_S))
while :; do
  json=$("${CTL[@]}" --coordinator="$COORD" --timeout_s=2 --json nodes 2>/dev/null || true)
  ps=$(count_alive "$json" ps); fc=$(count_alive "$json" fc)
  conv=$(count_alive "$json" conv); general=$(count_alive "$json" general)
  if ((ps >= NUM_SHARDS && fc >= NUM_FC && conv >= NUM_CONV && general >= NUM_GENERAL)) &&
     "${CTL[@]}" --coordinator="$COORD" --timeout_s=2 health >/dev/null 2>&1; then
    break
  fi
  for pid in "${STEP_PIDS[@]}"; do
    kill -0 "$pid" 2>/dev/null || { tail -n 20 "$WORK"/*.log >&2 || true; die "a daemon step exited during start-up"; }
  done
  ((SECONDS < deadline)) || { tail -n 20 "$WORK"/*.log >&2 || true
    die "timed out: $ps/$NUM_SHARDS shards, $fc/$NUM_FC fc, $conv/$NUM_CONV conv, $general/$NUM_GENERAL general registered"; }
  sleep 1
done
log "cluster ready; submitting $SPEC"

set +e
"${CTL[@]}" --coordinator="$COORD" submit "$SPEC" --watch
status=$?
set -e
log "stratactl exited $status ($( ((status == 0)) && echo SUCCEEDED || echo 'job failed'))"
exit "$status"
