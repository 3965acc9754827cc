"""Process primitives shared by the runtimes and the apply lock: spawn, identify, stop.

A pid alone is not an identity (pids are reused), so every record we keep pairs the pid
with the process start time from ``/proc/<pid>/stat``; a pid whose start time differs is
somebody else's process and counts as dead.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

# Re-exported: the runtimes and the monitor identify processes through this module.
from runner.state.process_identity import alive as alive
from runner.state.process_identity import start_time as start_time


def spawn(
    argv: Sequence[str],
    *,
    env: Mapping[str, str],
    log_path: Path,
    cwd: Path | None = None,
) -> subprocess.Popen[bytes]:
    """Start ``argv`` detached in its own session so it outlives the runner and a Ctrl-C."""
    from runner.state.paths import PRIVATE_UMASK, private_opener  # runner.state imports us

    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab", opener=private_opener) as log:  # 0600: logs may hold data
        return subprocess.Popen(  # noqa: S603 - argv list, no shell
            list(argv),
            env=dict(env),
            cwd=str(cwd) if cwd else None,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
            umask=PRIVATE_UMASK,  # what the child writes under the state dir stays private
        )


def reap(pid: int) -> None:
    """Collect an exited child so it does not linger as a zombie (no-op for non-children)."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def terminate(pid: int, started: int | None = None, *, timeout_s: float = 10.0) -> bool:
    """SIGTERM the process group, wait, then SIGKILL. Returns True if it had been running."""
    if not alive(pid, started):
        reap(pid)
        return False
    _signal_group(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        reap(pid)
        if not alive(pid, started):
            return True
        time.sleep(0.05)
    _signal_group(pid, signal.SIGKILL)
    for _ in range(100):
        reap(pid)
        if not alive(pid, started):
            break
        time.sleep(0.02)
    return True


def _signal_group(pid: int, sig: signal.Signals) -> None:
    # Replicas run in their own session (pgid == pid): signal the group so uvicorn workers
    # or mlflow's gunicorn children go too; fall back to the pid if the group is gone.
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass
