#!/usr/bin/env bash
# Stops the daemons scripts/slurm/start.sh started (by the pids it recorded in STATE_DIR/pids), nothing else.
set -uo pipefail
STATE_DIR=${1:?usage: stop.sh STATE_DIR}
[ -f "$STATE_DIR/pids" ] || exit 0
# slurmd and slurmctld first (they talk to munged while shutting down), munged last.
for name in slurmd slurmctld munged; do
  pid=$(awk -v n="$name" '$1 == n { print $2 }' "$STATE_DIR/pids")
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || continue
  kill -TERM "$pid"
  for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
  kill -0 "$pid" 2>/dev/null && { echo "slurm harness: $name (pid $pid) ignored SIGTERM; killing it" >&2; kill -KILL "$pid"; }
done
rm -f "$STATE_DIR/pids"
