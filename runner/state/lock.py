"""The apply lock: one apply at a time per state directory.

The lock is a row in the state store naming its holder (pid, process start time, host,
command) with a lease. A second apply while the holder lives fails at once with the
holder named (no waiting: the operator should know somebody else is converging). A holder
that died (kill -9 mid-apply) or whose lease ran out is taken over, and the takeover is
written to the audit log so the half-done apply is visible.
"""

from __future__ import annotations

import os
import socket
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from runner.errors import LockHeld
from runner.runtime.process import alive, start_time
from runner.state.store import StateStore

LOCK_NAME = "apply"
DEFAULT_LEASE_S = 600.0


@dataclass(frozen=True)
class Holder:
    pid: int
    start: int | None
    host: str
    cmd: str
    acquired_at: float
    lease_until: float

    def describe(self) -> str:
        since = time.strftime("%H:%M:%S", time.localtime(self.acquired_at))
        return f"pid {self.pid} on {self.host} ({self.cmd}) since {since}"

    def is_live(self, now: float) -> bool:
        if now > self.lease_until:
            return False
        if self.host != socket.gethostname():
            return True  # cannot see another host's processes: trust the lease
        return alive(self.pid, self.start)


def _command() -> str:
    argv = [os.path.basename(sys.argv[0])] + sys.argv[1:] if sys.argv else ["python"]
    return " ".join(argv)[:200]


def holder(store: StateStore) -> Holder | None:
    """Who holds the apply lock right now (dead holders included), or None."""
    row = store.db.execute("SELECT * FROM lock WHERE name = ?", (LOCK_NAME,)).fetchone()
    if row is None:
        return None
    return Holder(
        pid=row["holder_pid"], start=row["holder_start"], host=row["holder_host"],
        cmd=row["holder_cmd"], acquired_at=row["acquired_at"], lease_until=row["lease_until"],
    )


def acquire(store: StateStore, *, actor: str, lease_s: float = DEFAULT_LEASE_S) -> Holder | None:
    """Take the lock or raise LockHeld naming the live holder. Returns a dead holder taken over."""
    me = os.getpid()
    now = time.time()
    with store.transaction() as db:
        previous = holder(store)
        if previous is not None and previous.pid != me and previous.is_live(now):
            raise LockHeld(f"another apply holds the lock: {previous.describe()}")
        db.execute("DELETE FROM lock WHERE name = ?", (LOCK_NAME,))
        db.execute(
            "INSERT INTO lock (name, holder_pid, holder_start, holder_host, holder_cmd,"
            " acquired_at, lease_until) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (LOCK_NAME, me, start_time(me), socket.gethostname(), _command(), now, now + lease_s),
        )
    taken_over = previous if previous is not None and previous.pid != me else None
    if taken_over is not None:
        store.audit(
            "lock.takeover", actor=actor, outcome="ok",
            previous=taken_over.describe(), reason="holder dead or lease expired",
        )
    return taken_over


def renew(store: StateStore, lease_s: float = DEFAULT_LEASE_S) -> None:
    """Extend our lease (long applies and ``--watch`` loops call this between steps)."""
    store.db.execute(
        "UPDATE lock SET lease_until = ? WHERE name = ? AND holder_pid = ?",
        (time.time() + lease_s, LOCK_NAME, os.getpid()),
    )


def release(store: StateStore) -> None:
    store.db.execute(
        "DELETE FROM lock WHERE name = ? AND holder_pid = ?", (LOCK_NAME, os.getpid())
    )


@contextmanager
def apply_lock(
    store: StateStore, *, actor: str, lease_s: float = DEFAULT_LEASE_S
) -> Iterator[Holder | None]:
    """Hold the apply lock for the ``with`` body; yields the dead holder taken over, if any."""
    taken_over = acquire(store, actor=actor, lease_s=lease_s)
    try:
        yield taken_over
    finally:
        release(store)
