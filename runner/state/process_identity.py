"""Who a process is: a pid paired with its kernel start time (pids are reused).

A leaf the state store's apply lock and the runtimes both use: a pid whose start time
differs from the one recorded is somebody else's process and counts as dead.
"""

from __future__ import annotations

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
