#!/usr/bin/env bash
# A one-machine SLURM cluster for trying `bcbench submit` and launch/slurm-array.sbatch (and for the
# slow-lane tests in tests/e2e/test_slurm.py): one node with this machine's CPUs and memory, one
# partition, its own munged, no cgroups, every file in one private folder, nothing in /etc touched.
#   sudo bash scripts/slurm-local.sh start    # installs slurm-wlm + munge with apt when missing
#   export SLURM_CONF=/tmp/bcbench-slurm/slurm.conf   # start prints this line; sinfo, sbatch, bcbench submit
#   sudo bash scripts/slurm-local.sh status
#   sudo bash scripts/slurm-local.sh stop     # stops the daemons this script started (their recorded pids)
# Environment: BCBENCH_SLURM_DIR (state folder, default /tmp/bcbench-slurm), BCBENCH_SLURM_PORT
# (slurmctld's port, slurmd uses the next one; default 6817), BCBENCH_SLURM_TIMEOUT (seconds to wait
# for the node to be idle, default 60). Needs root: the daemons run as root, as do the jobs' owner.
# Exit codes: 0 done (or already running / not running), 1 could not (one line on stderr says why).
set -euo pipefail

STATE="${BCBENCH_SLURM_DIR:-/tmp/bcbench-slurm}"
PORT="${BCBENCH_SLURM_PORT:-6817}"
TIMEOUT="${BCBENCH_SLURM_TIMEOUT:-60}"
DAEMONS=(slurmd slurmctld munged)  # the stop order; start is the reverse
export SLURM_CONF="$STATE/slurm.conf"

fail() {
  echo "slurm-local: $*" >&2
  exit 1
}

# The pid recorded for a daemon, if that process is alive and still that daemon (pids are reused).
running_pid() {
  local pid
  pid=$(cat "$STATE/$1.pid" 2>/dev/null) || return 1
  [[ "$pid" =~ ^[0-9]+$ ]] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$1" ] && echo "$pid"
}

install_packages() {
  if command -v munged >/dev/null && command -v slurmctld >/dev/null && command -v slurmd >/dev/null \
    && command -v sinfo >/dev/null; then
    return 0
  fi
  command -v apt-get >/dev/null || fail "slurm-wlm and munge are missing and there is no apt-get to install them"
  echo "installing slurm-wlm and munge with apt-get (under a minute)"
  local log="$STATE/apt.log"
  if ! { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
    slurm-wlm munge; } >"$log" 2>&1; then
    fail "apt-get could not install slurm-wlm and munge: see $log ($(tail -n 1 "$log"))"
  fi
}

write_config() {
  local node host
  # slurmd -C: this machine's CPUs, sockets, cores, threads and memory, as a NodeName line
  node=$(slurmd -C | head -n 1) || fail "slurmd -C could not describe this machine"
  host=$(hostname -s)
  cat >"$SLURM_CONF" <<EOF
# written by scripts/slurm-local.sh: a one-node cluster on $host, every file under $STATE
ClusterName=bcbench
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$PORT
SlurmdPort=$((PORT + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
# our own munged; cred_expire: a requeued job may start again after 10 s (SLURM's default: 120 s)
AuthInfo=socket=$STATE/munge/munge.socket.2,cred_expire=10
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/spool
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd.pid
SlurmctldLogFile=$STATE/slurmctld.log
SlurmdLogFile=$STATE/slurmd.log
# no cgroups (containers rarely allow them): processes tracked by parent pid, no task confinement
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SwitchType=switch/none
SchedulerType=sched/backfill
# look at pending jobs every 2 s (default 60 s): a requeued task starts again within seconds
SchedulerParameters=sched_interval=2,bf_interval=2
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
KillWait=10
$node NodeAddr=127.0.0.1 State=UNKNOWN
PartitionName=local Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
}

start_munged() {
  mkdir -p "$STATE/munge"
  chmod 0755 "$STATE" "$STATE/munge"  # munged: every client must reach its socket
  if [ ! -s "$STATE/munge.key" ]; then
    dd if=/dev/urandom of="$STATE/munge.key" bs=1024 count=1 status=none
    chmod 0400 "$STATE/munge.key"
  fi
  munged --socket="$STATE/munge/munge.socket.2" --key-file="$STATE/munge.key" \
    --pid-file="$STATE/munged.pid" --log-file="$STATE/munged.log" --seed-file="$STATE/munged.seed" \
    || fail "munged did not start: see $STATE/munged.log"
}

# Start one SLURM daemon; it forks, then writes the pid file named in slurm.conf.
start_daemon() {
  local name=$1
  shift
  "$name" -f "$SLURM_CONF" "$@" || fail "$name did not start: see $STATE/$name.log"
  for _ in $(seq 50); do
    running_pid "$name" >/dev/null && return 0
    sleep 0.1
  done
  fail "$name exited at start: see $STATE/$name.log"
}

wait_until_idle() {
  local state=""
  for _ in $(seq "$((TIMEOUT * 2))"); do
    state=$(sinfo -h -N -o '%T' 2>/dev/null | head -n 1) || true
    [ "$state" = "idle" ] && return 0
    sleep 0.5
  done
  fail "the node is not idle after ${TIMEOUT}s (sinfo says '${state:-nothing}'): see $STATE/slurmctld.log and $STATE/slurmd.log"
}

start() {
  [ "$(id -u)" = 0 ] || fail "start needs root (the daemons run as root): sudo bash $0 start"
  if running_pid slurmctld >/dev/null && running_pid slurmd >/dev/null && running_pid munged >/dev/null; then
    echo "already running (state in $STATE)"
    echo "export SLURM_CONF=$SLURM_CONF"
    return 0
  fi
  mkdir -p "$STATE"
  stop_daemons quiet  # a half-started cluster from before: start again from nothing
  install_packages
  rm -rf "$STATE/ctld" "$STATE/spool"  # a fresh cluster: no jobs from an earlier start
  mkdir -p "$STATE/ctld" "$STATE/spool"
  write_config
  start_munged
  start_daemon slurmctld -i  # -i: ignore state files
  start_daemon slurmd
  wait_until_idle
  echo "SLURM is running: node $(hostname -s), partition local, state in $STATE"
  echo "export SLURM_CONF=$SLURM_CONF"
}

# Cancel this cluster's jobs first, so that no job process outlives the daemons.
cancel_jobs() {
  running_pid slurmctld >/dev/null || return 0
  squeue -h -o %A 2>/dev/null | xargs -r scancel 2>/dev/null || true
  for _ in $(seq 60); do
    [ -z "$(squeue -h -t running,completing 2>/dev/null)" ] && return 0
    sleep 0.5
  done
}

stop_daemons() {
  local name pid stopped=0
  cancel_jobs
  for name in "${DAEMONS[@]}"; do
    pid=$(running_pid "$name") || continue
    kill "$pid"
    for _ in $(seq 100); do
      [ -d "/proc/$pid" ] || break
      sleep 0.1
    done
    [ -d "/proc/$pid" ] && kill -KILL "$pid"
    [ "${1:-}" = quiet ] || echo "stopped $name (pid $pid)"
    stopped=1
  done
  [ "${1:-}" = quiet ] || [ "$stopped" = 1 ] || echo "not running (state in $STATE)"
}

status() {
  local name pid down=0
  for name in munged slurmctld slurmd; do
    if pid=$(running_pid "$name"); then
      echo "$name: running (pid $pid)"
    else
      echo "$name: not running"
      down=1
    fi
  done
  if [ "$down" = 0 ]; then
    sinfo
    echo "export SLURM_CONF=$SLURM_CONF"
  fi
}

case "${1:-}" in
  start) start ;;
  stop)
    [ "$(id -u)" = 0 ] || fail "stop needs root (the daemons run as root): sudo bash $0 stop"
    stop_daemons
    ;;
  status) status ;;
  *) fail "usage: bash $0 start|stop|status" ;;
esac
