"""Who listens on a TCP port of this machine: pid and program, from the kernel's tables.

``inv up`` refuses to start when a port the specs give a service or a platform daemon is
held by a program that is not ours, naming it (``port 8001 (bankchurn) is taken by
python3 (pid 4242)``), and ``inv doctor`` says the same with the fix. psutil reads
``/proc/net/tcp*`` and each process' socket fds; without root, other users' sockets show
no pid, and the message says so instead of guessing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Listener:
    port: int
    pid: int | None  # None: the socket's owner is not visible to us (another user's)
    program: str  # "" when pid is None
    cmdline: str = ""

    def describe(self) -> str:
        if self.pid is None:
            return "another user's program (pid not visible: run as root, or `ss -ltnp`)"
        return f"{self.program} (pid {self.pid})"


def listener(port: int) -> Listener | None:
    """The process listening on ``port`` (any local address), or None when it is free."""
    import psutil  # a dvc dependency; ~10 ms, so only when asked

    try:
        conns = psutil.net_connections(kind="tcp")
    except (psutil.AccessDenied, OSError):
        conns = []
    for conn in conns:
        if conn.status != psutil.CONN_LISTEN or not conn.laddr or conn.laddr.port != port:
            continue
        if conn.pid is None:
            return Listener(port, None, "")
        try:
            proc = psutil.Process(conn.pid)
            return Listener(port, conn.pid, proc.name(), " ".join(proc.cmdline())[:200])
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            return Listener(port, conn.pid, "?")
    return None


def lineage(pid: int) -> set[int]:
    """``pid`` and its ancestors: a gunicorn worker listening belongs to its master."""
    import psutil

    out = {pid}
    try:
        out |= {p.pid for p in psutil.Process(pid).parents()}
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        pass
    return out


def foreign(port: int, ours: Iterable[int]) -> Listener | None:
    """The listener on ``port`` when it is a program that is not ours (``ours``: pids of
    the replicas and daemons this state directory started); None when free or ours."""
    found = listener(port)
    if found is None or found.pid is None:
        return found
    return None if lineage(found.pid) & set(ours) else found
