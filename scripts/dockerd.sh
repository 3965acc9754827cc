#!/usr/bin/env bash
# Starts the Docker engine for the container runtime and its tests, unless one answers.
#
# Host networking only: no bridge, no iptables rules, so containers never get (or reach)
# a private-range address; they share 127.0.0.1 with the host. The engine keeps its own
# data root (MLGITOPS_DOCKER_ROOT, default /var/lib/mlgitops-docker), so its images and
# layer cache survive between runs on the same machine and never mix with another
# engine's. Idempotent: exits 0 at once when the socket already answers.
set -euo pipefail

SOCK=${MLGITOPS_DOCKER_SOCK:-/var/run/docker.sock}
ROOT=${MLGITOPS_DOCKER_ROOT:-/var/lib/mlgitops-docker}
LOG=${MLGITOPS_DOCKER_LOG:-/var/log/mlgitops-dockerd.log}
WAIT_S=${MLGITOPS_DOCKER_WAIT_S:-60}

answers() { curl -fsS --unix-socket "$SOCK" http://localhost/_ping >/dev/null 2>&1; }

if answers; then
  echo "dockerd: answering on $SOCK"
  exit 0
fi
command -v dockerd >/dev/null || { echo "dockerd: not installed (scripts/setup.sh installs docker.io)" >&2; exit 1; }
if [ "$(id -u)" -ne 0 ]; then
  echo "dockerd: not running, and starting it needs root (sudo $0)" >&2
  exit 1
fi
mkdir -p "$ROOT"
# setsid + nohup: the engine outlives this shell (and the test session that started it).
setsid nohup dockerd --host "unix://$SOCK" --data-root "$ROOT" \
  --bridge=none --iptables=false --ip-masq=false --userland-proxy=false \
  --pidfile "$ROOT/dockerd.pid" >>"$LOG" 2>&1 </dev/null &
for _ in $(seq 1 $((WAIT_S * 5))); do
  if answers; then echo "dockerd: started (data root $ROOT, log $LOG)"; exit 0; fi
  sleep 0.2
done
echo "dockerd: did not answer on $SOCK within ${WAIT_S}s; see $LOG" >&2
exit 1
