"""How the local runtime runs the monitor: one platform daemon like Prometheus and MLflow.

``runner.reconcile.platform`` starts it with ``runner.runtime.daemons.ensure`` (start
unless answering, wait for /health) during ``inv up`` and stops it in ``inv down``.
"""

from __future__ import annotations

import sys
from pathlib import Path

from runner.runtime.daemons import Daemon

NAME = "monitor"


def monitor_daemon(state: Path, root: Path, port: int = 9108, env_name: str = "dev") -> Daemon:
    """The exporter + webhook process for the platform of ``root`` with state in ``state``."""
    return Daemon(
        name=NAME,
        argv=[
            sys.executable, "-m", "runner.monitor.server", "--env", env_name,
            "--port", str(port), "--root", str(root), "--state", str(state),
        ],
        port=port,
        health_path="/health",
        start_timeout_s=30.0,
    )
