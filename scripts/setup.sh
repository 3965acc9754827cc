#!/usr/bin/env bash
# Sets up a fresh Debian/Ubuntu machine for the toolkit: system packages (the monitoring
# binaries and the tools the tests check rendered files with) and the Python venv.
# Idempotent: a second run only checks. Needs Python 3.11+ and git.
set -euo pipefail
cd "$(dirname "$0")/.."

# restic: inv backup/restore. procps + iproute2: `inv verify` (testinfra reads processes with
# ps, sockets with ss). chromium: the status page's browser test (playwright; no download).
APT_PACKAGES=(prometheus prometheus-alertmanager docker-compose python3-venv git restic procps iproute2
              chromium)
# The Docker runtime (issue 10): the engine (dockerd; some machines only carry a client in
# /usr/local/bin), debootstrap for the local base image, a local image registry.
APT_PACKAGES+=(docker.io debootstrap docker-registry)

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else return 1; fi
}

if command -v apt-get >/dev/null 2>&1; then
  missing=()
  for pkg in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "setup: installing ${missing[*]}"
    as_root apt-get update -q >/dev/null
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
  fi
else
  echo "setup: no apt-get here; Prometheus and Alertmanager will show as 'not installed'" >&2
fi

PY=${PYTHON:-python3}
"$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "setup: Python 3.11+ needed" >&2; exit 1; }
[ -x .venv/bin/python ] || "$PY" -m venv .venv

# Reinstall only when the dependency list changed since the last successful install.
stamp=.venv/.installed-$(sha256sum pyproject.toml | cut -c1-16)
if [ ! -f "$stamp" ]; then
  echo "setup: installing Python dependencies into .venv (a few minutes the first time)"
  .venv/bin/pip install -q --upgrade pip
  .venv/bin/pip install -q -e '.[dev]'
  rm -f .venv/.installed-* && touch "$stamp"
fi
echo "setup: ok ($(.venv/bin/python --version))"
