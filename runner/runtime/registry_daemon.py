"""The local image registry: Debian's ``docker-registry`` on 127.0.0.1, run like MLflow.

Started by ``inv push`` (and by ``inv up`` for a runtime that pulls from it) when the
platform spec's ``registry.local`` is true; its configuration and blobs live under
``<state>/registry``. Bound to 127.0.0.1 with no authentication: nothing off this host
reaches it, and the engine treats a loopback registry as plain-HTTP by default.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from runner.errors import NotInstalled
from runner.runtime import daemons
from runner.runtime.daemons import Daemon, DaemonStatus

CONFIG = """\
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: {data}
  delete:
    enabled: true
http:
  addr: 127.0.0.1:{port}
  headers:
    X-Content-Type-Options: [nosniff]
"""


def registry_daemon(state: Path, port: int = 5001) -> Daemon:
    """How to run the registry for ``state`` (writes its configuration file)."""
    binary = shutil.which("docker-registry") or shutil.which("registry")
    if binary is None:
        raise NotInstalled("docker-registry is not installed (scripts/setup.sh installs it)")
    base = state / "registry"
    (base / "data").mkdir(parents=True, exist_ok=True)
    config = base / "config.yml"
    config.write_text(CONFIG.format(data=base / "data", port=port))
    return Daemon(name="registry", argv=[binary, "serve", str(config)], port=port,
                  health_path="/v2/", start_timeout_s=30.0)


def ensure_registry(state: Path, port: int = 5001) -> DaemonStatus:
    """Start the local registry unless it answers; wait until /v2/ says 200."""
    return daemons.ensure(state, registry_daemon(state, port))


def stop_registry(state: Path) -> bool:
    return daemons.stop(state, "registry")
