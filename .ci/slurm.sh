#!/usr/bin/env bash
# A throwaway single-node Slurm cluster on 127.0.0.1 (Debian's slurm-wlm daemons and munge) for the
# slurm back-end test: its own munge key and socket, its own slurm.conf, state and logs under DIR, free
# ports, so it touches no system service. Run as root (CI and the dev machines are).
#   .ci/slurm.sh install      install slurmctld, slurmd, the client and munge with apt if missing
#   .ci/slurm.sh start DIR    write DIR/slurm.conf, start munged, slurmctld, slurmd; wait for the node
#   .ci/slurm.sh stop DIR     cancel its jobs, stop the daemons
# Clients use it through SLURM_CONF=DIR/slurm.conf.
set -euo pipefail
cmd=${1:?usage: slurm.sh install|start DIR|stop DIR}
dir=${2:-}

install() {
  command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v sbatch >/dev/null \
    && command -v munged >/dev/null && return 0
  pkgs="slurmctld slurmd slurm-client munge"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q --no-install-recommends $pkgs >/dev/null 2>&1 \
    || { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q --no-install-recommends $pkgs >/dev/null; }
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

start() {
  mkdir -p "$dir"/{state,spool,log}
  dir=$(cd "$dir" && pwd)
  local node cpus mem ctld_port slurmd_port
  node=$(hostname -s)
  cpus=$(nproc)
  mem=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 / 2 ))  # half the RAM, in MB
  ctld_port=$(free_port)
  slurmd_port=$(free_port)
  head -c 1024 /dev/urandom > "$dir/munge.key"
  chmod 400 "$dir/munge.key"
  munged --force --key-file="$dir/munge.key" --socket="$dir/munge.sock" --pid-file="$dir/munged.pid" \
    --log-file="$dir/log/munged.log" --seed-file="$dir/munge.seed"
  cat > "$dir/slurm.conf" <<CONF
ClusterName=planeval-test
SlurmctldHost=$node(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$dir/munge.sock
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
ReturnToService=2
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=1
InactiveLimit=0
KillWait=5
MinJobAge=300
NodeName=$node NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=$node Default=YES MaxTime=INFINITE State=UP
CONF
  slurmctld -f "$dir/slurm.conf"
  slurmd -f "$dir/slurm.conf" -N "$node"
  for _ in $(seq 60); do
    state=$(SLURM_CONF="$dir/slurm.conf" sinfo -h -o %T 2>/dev/null || true)
    case "$state" in idle*|mixed*) echo "slurm up: $node, $cpus CPUs, ${mem} MB"; return 0 ;; esac
    sleep 0.5
  done
  echo "slurm did not come up (node state: ${state:-none}); logs in $dir/log" >&2
  tail -5 "$dir"/log/*.log >&2 || true
  return 1
}

stop() {
  SLURM_CONF="$dir/slurm.conf" scancel --full --user="$(id -un)" 2>/dev/null || true
  for pidfile in slurmd slurmctld munged; do
    if [ -f "$dir/$pidfile.pid" ]; then kill "$(cat "$dir/$pidfile.pid")" 2>/dev/null || true; fi
  done
}

case "$cmd" in
  install) install ;;
  start) start ;;
  stop) stop ;;
  *) echo "usage: slurm.sh install|start DIR|stop DIR" >&2; exit 2 ;;
esac
