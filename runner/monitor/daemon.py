"""How the platform runs the monitor: a daemon like MLflow or Prometheus.

Apart from ``server`` so that what lists the platform's components (``platform_status``,
which the status page served by ``server`` uses) does not import the server itself.
"""

from __future__ import annotations

import sys
from pathlib import Path

from runner.runtime.daemons import Daemon


def monitor_daemon(state: Path, root: Path, port: int = 9108, env_name: str = "dev") -> Daemon:
    """How the local runtime runs this process: a platform daemon like Prometheus or MLflow.

    ``runner.commands.platform_up`` starts it with ``runner.runtime.daemons.ensure`` (start
    unless answering, wait for /health) during ``inv up`` and stops it in ``inv down``.
    """
    return Daemon(
        name="monitor",
        argv=[
            sys.executable, "-m", "runner.monitor.server", "--env", env_name,
            "--port", str(port), "--root", str(root), "--state", str(state),
        ],
        port=port,
        health_path="/health",
        start_timeout_s=30.0,
    )
