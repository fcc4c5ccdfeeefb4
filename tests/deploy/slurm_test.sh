#!/usr/bin/env bash
# Runs deploy/slurm for real on a one-node Slurm cluster on localhost:
# munged, slurmctld and slurmd (Debian's packages) with a generated
# slurm.conf (this host, CPUs=2, one partition), then submits
# deploy/slurm/strata-cpu.sbatch with a small ps_load_test job and checks
# that the Slurm job COMPLETED with exit code 0 and the Strata job
# SUCCEEDED. The daemons listen on the node's name, not loopback, which they
# refuse without TLS: the job passes only with the per-job certificates
# strata_job.sh makes (tools/certs.sh), and the test checks that their
# directory was private and is gone after the job. The heterogeneous script (strata-hetjob.sbatch) needs GPU nodes
# with gres and is only checked with bash -n here.
#
# SKIPS (exit 0, printing why) when the Slurm packages are missing and cannot
# be installed (installs them with apt-get when root and apt-get exists),
# or when the daemons cannot start. Everything it starts is stopped at exit.
set -euo pipefail

RUNFILES=${TEST_SRCDIR:-}/strata
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
[[ -d "$RUNFILES/deploy/slurm" ]] || RUNFILES="$(cd "$HERE/../.." && pwd)"
BIN=${STRATA_TEST_BIN_DIR:-$RUNFILES}
# A short path: munge's and slurmd's Unix sockets must fit in 108 bytes,
# which TEST_TMPDIR under Bazel's output base does not.
D=$(mktemp -d /tmp/strata-slurm.XXXXXX)

skip() { echo "SKIP: $*"; exit 0; }
fail() {
  echo "FAIL: $*" >&2
  local f
  for f in "$D"/*.log "$D"/work/*.log "$D"/job.out; do
    [[ -f "$f" ]] && { echo "----- $f" >&2; tail -n 25 "$f" >&2; }
  done
  exit 1
}

bash -n "$RUNFILES/deploy/slurm/strata_job.sh" "$RUNFILES/deploy/slurm/strata-hetjob.sbatch" ||
  fail "deploy/slurm scripts do not parse"
grep -q '^#SBATCH hetjob' "$RUNFILES/deploy/slurm/strata-hetjob.sbatch" || fail "no hetjob separator"
grep -q '^#SBATCH --gres=gpu' "$RUNFILES/deploy/slurm/strata-hetjob.sbatch" || fail "no --gres=gpu"
! grep -n -- '--insecure' "$RUNFILES"/deploy/slurm/* || fail "deploy/slurm passes --insecure"
# Every daemon step (from `step NAME` to the line closing its command)
# passes $(tls ...).
steps=$(grep -c '^ *step [a-z]* ' "$RUNFILES/deploy/slurm/strata_job.sh")
((steps == 5)) || fail "expected 5 daemon steps in strata_job.sh, found $steps"
steps_without_tls=$(awk '/^ *step [a-z]+ /{s=$2; t=0} s&&/\$\(tls /{t=1} s&&/"$/{if(!t)print s; s=""}' \
  "$RUNFILES/deploy/slurm/strata_job.sh")
[[ -z "$steps_without_tls" ]] || fail "daemon steps without --tls_* flags: $steps_without_tls"

need=(munged slurmctld slurmd sbatch scontrol)
have_all() { local c; for c in "${need[@]}"; do PATH=$PATH:/usr/sbin command -v "$c" >/dev/null || return 1; done; }
if ! have_all; then
  [[ "$(id -u)" -eq 0 ]] || skip "Slurm is not installed and we are not root (apt-get install munge slurmctld slurmd slurm-client)"
  command -v apt-get >/dev/null || skip "Slurm is not installed and there is no apt-get"
  echo "installing munge slurmctld slurmd slurm-client"
  DEBIAN_FRONTEND=noninteractive timeout 300 apt-get install -y -q --no-install-recommends \
      munge slurmctld slurmd slurm-client </dev/null > "$D/apt.log" 2>&1 ||
    { tail -n 5 "$D/apt.log"; skip "apt-get install of Slurm failed (log above)"; }
fi
export PATH=$PATH:/usr/sbin
[[ "$(id -u)" -eq 0 ]] || skip "the test cluster's slurmd must run as root (not root here)"

PIDS=()
cleanup() {
  if [[ -n "${JOB:-}" ]]; then scancel "$JOB" 2>/dev/null || true; fi
  local pid
  for pid in "${PIDS[@]+"${PIDS[@]}"}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]+"${PIDS[@]}"}"; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  done
}
trap 'cleanup; rm -rf "$D"' EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
HOST=$(hostname -s)
CTLD_PORT=$(free_port)
SLURMD_PORT=$(free_port)

# munge: a fresh key and a private socket.
dd if=/dev/urandom of="$D/munge.key" bs=1024 count=1 status=none
chmod 400 "$D/munge.key"
mkdir -p "$D/munge"
chmod 700 "$D/munge"
munged --force --key-file="$D/munge.key" --socket="$D/munge/munge.sock" \
  --pid-file="$D/munge/munged.pid" --log-file="$D/munged.log" --seed-file="$D/munge/seed" ||
  { tail -n 5 "$D/munged.log" 2>/dev/null || true; skip "munged did not start (log above)"; }
PIDS+=("$(cat "$D/munge/munged.pid")")

mkdir -p "$D/state" "$D/spool/$HOST"
cat > "$D/slurm.conf" <<CONF
ClusterName=stratatest
SlurmctldHost=$HOST(127.0.0.1)
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$D/munge/munge.sock
StateSaveLocation=$D/state
SlurmdSpoolDir=$D/spool/%n
SlurmctldPidFile=$D/slurmctld.pid
SlurmdPidFile=$D/slurmd.pid
SlurmctldLogFile=$D/slurmctld.log
SlurmdLogFile=$D/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SwitchType=switch/none
MpiDefault=none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
SlurmdTimeout=30
InactiveLimit=0
KillWait=10
NodeName=$HOST NodeAddr=127.0.0.1 CPUs=2 State=UNKNOWN
PartitionName=test Nodes=$HOST Default=YES MaxTime=10 State=UP
CONF
export SLURM_CONF=$D/slurm.conf

slurmctld -D -i -f "$SLURM_CONF" > "$D/slurmctld.stdout" 2>&1 &
PIDS+=("$!")
slurmd -D -f "$SLURM_CONF" -N "$HOST" > "$D/slurmd.stdout" 2>&1 &
PIDS+=("$!")

# Wait for the node to come up.
deadline=$((SECONDS + 30))
until sinfo -h -N -o '%T' 2>/dev/null | grep -qE '^(idle|mixed|allocated)'; do
  for pid in "${PIDS[@]}"; do
    kill -0 "$pid" 2>/dev/null || {
      tail -n 15 "$D"/slurmctld.log "$D"/slurmd.log "$D"/*.stdout 2>/dev/null || true
      skip "a Slurm daemon exited during start-up (see above)"; }
  done
  ((SECONDS < deadline)) || { tail -n 15 "$D"/slurmctld.log "$D"/slurmd.log 2>/dev/null || true
    skip "the Slurm node did not become idle within 30 s: $(sinfo -h -N 2>&1 | head -3)"; }
  sleep 0.5
done
echo "--- one-node Slurm cluster up: $(sinfo -h -N -o '%N %T %c cpus' 2>&1)"

cat > "$D/load.textproto" <<'SPEC'
name: "slurm-load"
num_workers: 1
ps_load_test { table: "slurm" dim: 8 keys_per_worker: 5000 batch_size: 1024 rounds: 1 seed: 3 }
SPEC
mkdir -p "$D/work"
JOB=$(cd "$D" && sbatch --parsable --chdir="$D" --output="$D/job.out" --time=3 \
  --export="ALL,STRATA_HOME=$RUNFILES,STRATA_BIN_DIR=$BIN,STRATA_WORKDIR=$D/work,STRATA_START_TIMEOUT_S=60" \
  "$RUNFILES/deploy/slurm/strata-cpu.sbatch" "$D/load.textproto") || fail "sbatch failed"
echo "--- submitted Slurm job $JOB"

deadline=$((SECONDS + 120))
state=""
while ((SECONDS < deadline)); do
  state=$(scontrol show job "$JOB" 2>/dev/null | grep -o 'JobState=[A-Z_]*' | cut -d= -f2 || true)
  case "$state" in
    COMPLETED | FAILED | CANCELLED | TIMEOUT | NODE_FAIL | OUT_OF_MEMORY | BOOT_FAIL | DEADLINE) break ;;
  esac
  sleep 1
done
info=$(scontrol show job "$JOB" 2>/dev/null || true)
echo "--- job $JOB: $(grep -o 'JobState=[A-Z_]* .*' <<<"$info" | head -1) $(grep -o 'ExitCode=[0-9:]*' <<<"$info" | head -1)"
echo "----- job output"; tail -n 30 "$D/job.out" 2>/dev/null || true
[[ "$state" == COMPLETED ]] || fail "Slurm job $JOB ended in state '${state:-unknown}' (expected COMPLETED)"
grep -q 'ExitCode=0:0' <<<"$info" || fail "Slurm job $JOB exit code is not 0:0"
grep -q '"state":"SUCCEEDED"\|SUCCEEDED' "$D/job.out" || fail "the Strata job did not report SUCCEEDED"
grep -q "certificates in $D/work/pki (mode 700, CA key deleted)" "$D/job.out" ||
  fail "strata_job.sh made no private certificate directory"
[[ ! -e "$D/work/pki" ]] || fail "the job's certificates outlived the job ($D/work/pki)"
JOB=""
echo "PASS"
