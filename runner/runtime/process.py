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


def start_time(pid: int) -> int | None:
    """Kernel start time of ``pid`` in clock ticks since boot, or None if it does not exist."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError, OSError):
        return None
    # The command name (field 2) may contain spaces and parentheses: split after the last ")".
    fields = raw[raw.rfind(")") + 2 :].split()
    state = fields[0]
    if state in ("Z", "X"):  # a zombie has exited; only its parent has not reaped it yet
        return None
    return int(fields[19])


def alive(pid: int | None, started: int | None = None) -> bool:
    """True when ``pid`` runs and (if given) is the same process that started at ``started``."""
    if not pid or pid <= 0:
        return False
    now = start_time(pid)
    if now is None:
        return False
    return started is None or now == started


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
