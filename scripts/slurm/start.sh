#!/usr/bin/env bash
# Starts a throwaway one-node Slurm (munged, slurmctld, slurmd) whose every file lives in STATE_DIR, for the tests.
#
#   scripts/slurm/start.sh STATE_DIR      → STATE_DIR/slurm.conf, STATE_DIR/pids (one "name pid" a line)
#   export SLURM_CONF=STATE_DIR/slurm.conf  (clients: sbatch, squeue, scancel, sinfo)
#   scripts/slurm/stop.sh STATE_DIR       stops exactly the daemons this started
#
# Installs Debian's slurmctld, slurmd, slurm-client and munge when they are missing (needs root and apt). Exit code 77
# means "this machine cannot run it" (not root, no apt, no packages) with the reason on stderr: the test skips with it.
# Any other failure exits 1 with the daemons' log tails. No cgroups are needed: proctrack/linuxproc and task/none.
set -euo pipefail
STATE_DIR=${1:?usage: start.sh STATE_DIR}
mkdir -p "$STATE_DIR"
STATE_DIR=$(cd "$STATE_DIR" && pwd)
cannot() { echo "slurm harness: cannot run Slurm here: $*" >&2; exit 77; }
fail() {
  echo "slurm harness: $*" >&2
  for f in "$STATE_DIR"/log/*.log; do [ -f "$f" ] && { echo "--- $f" >&2; tail -n 20 "$f" >&2; }; done
  exit 1
}

missing=()
for cmd in munged slurmctld slurmd sbatch; do command -v "$cmd" >/dev/null || missing+=("$cmd"); done
if [ ${#missing[@]} -gt 0 ]; then
  [ "$(id -u)" = 0 ] || cannot "missing ${missing[*]} and not root (uid $(id -u)), so cannot apt-get install slurmctld slurmd slurm-client munge"
  command -v apt-get >/dev/null || cannot "missing ${missing[*]} and apt-get is not available"
  echo "slurm harness: installing slurmctld slurmd slurm-client munge from the distribution" >&2
  export DEBIAN_FRONTEND=noninteractive
  # Package scripts must not start the system's own daemons: ours run with our config, on our files.
  policy=/usr/sbin/policy-rc.d; own_policy=0
  if [ ! -e $policy ]; then printf '#!/bin/sh\nexit 101\n' > $policy && chmod +x $policy && own_policy=1; fi
  install_log="$STATE_DIR/apt.log"
  if ! { apt-get install -y -q --no-install-recommends slurmctld slurmd slurm-client munge >"$install_log" 2>&1 ||
         { apt-get update -q >>"$install_log" 2>&1 && apt-get install -y -q --no-install-recommends slurmctld slurmd slurm-client munge >>"$install_log" 2>&1; }; }; then
    [ $own_policy = 1 ] && rm -f $policy
    cannot "apt-get install slurmctld slurmd slurm-client munge failed: $(tail -n 3 "$install_log" | tr '\n' ' ')"
  fi
  [ $own_policy = 1 ] && rm -f $policy
fi
[ "$(id -u)" = 0 ] || cannot "slurmd must run as root (SlurmdUser=root) to start jobs; running as uid $(id -u)"

mkdir -p "$STATE_DIR"/{munge,state,spool,log,run}
chmod 700 "$STATE_DIR/munge"
# The system key if the package made one (or we make it there), copied so that munged's ownership checks pass.
if [ ! -s /etc/munge/munge.key ]; then
  mkdir -p /etc/munge
  if command -v mungekey >/dev/null; then mungekey --create --keyfile=/etc/munge/munge.key; else dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none; fi
  chmod 400 /etc/munge/munge.key
fi
install -m 400 /etc/munge/munge.key "$STATE_DIR/munge/munge.key"
socket="$STATE_DIR/munge/munge.socket"

# From here on, a failure (fail, or any command under set -e) stops whatever did start: the caller cannot be
# relied on to run stop.sh after a failed start (the tests remove STATE_DIR, which left munged running).
here=$(cd "$(dirname "$0")" && pwd)
trap 'rc=$?; [ $rc -eq 0 ] || bash "$here/stop.sh" "$STATE_DIR"' EXIT
: > "$STATE_DIR/pids"
munged --force --socket="$socket" --key-file="$STATE_DIR/munge/munge.key" --pid-file="$STATE_DIR/run/munged.pid" \
  --log-file="$STATE_DIR/log/munged.log" --seed-file="$STATE_DIR/munge/munge.seed" </dev/null >/dev/null 2>&1 || fail "munged did not start"
echo "munged $(cat "$STATE_DIR/run/munged.pid")" >> "$STATE_DIR/pids"

host=$(hostname -s)
# The node as slurmd sees it (CPUs, sockets, cores, threads, memory); NodeAddr avoids depending on DNS.
node=$(slurmd -C | head -n 1)
[[ $node == NodeName=* ]] || fail "slurmd -C printed no NodeName line: $node"
conf="$STATE_DIR/slurm.conf"
cat > "$conf" <<CONF
# A one-node test cluster written by scripts/slurm/start.sh.
ClusterName=trnet-test
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=${TRNET_SLURMCTLD_PORT:-6817}
SlurmdPort=${TRNET_SLURMD_PORT:-6818}
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$socket
SlurmUser=root
SlurmdUser=root
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
KillWait=10
# No DependencyParameters=kill_invalid_depend: like most clusters, a stage-2 array whose stage-1 job failed stays
# pending (DependencyNeverSatisfied), which is what trnet status and --retry-failed must handle.
StateSaveLocation=$STATE_DIR/state
SlurmdSpoolDir=$STATE_DIR/spool
SlurmctldPidFile=$STATE_DIR/run/slurmctld.pid
SlurmdPidFile=$STATE_DIR/run/slurmd.pid
SlurmctldLogFile=$STATE_DIR/log/slurmctld.log
SlurmdLogFile=$STATE_DIR/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
$node NodeAddr=127.0.0.1 State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
export SLURM_CONF="$conf"

# -D keeps them in the foreground of a background job so that $! is the daemon's pid; output goes to files so that
# the caller's pipes close when this script exits.
slurmctld -D -c -f "$conf" </dev/null >"$STATE_DIR/log/slurmctld.out" 2>&1 &
echo "slurmctld $!" >> "$STATE_DIR/pids"
slurmd -D -f "$conf" </dev/null >"$STATE_DIR/log/slurmd.out" 2>&1 &
echo "slurmd $!" >> "$STATE_DIR/pids"

for _ in $(seq 1 60); do
  state=$(sinfo -h -N -o '%T' 2>/dev/null | head -n 1 || true)
  [ "$state" = idle ] && { echo "slurm harness: node $host idle ($(sinfo --version))" >&2; exit 0; }
  while read -r name pid; do kill -0 "$pid" 2>/dev/null || fail "$name (pid $pid) exited"; done < "$STATE_DIR/pids"
  sleep 1
done
fail "the node did not become idle within 60 s (sinfo: ${state:-no answer})"
