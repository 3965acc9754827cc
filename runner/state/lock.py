"""The apply lock: one apply at a time per state directory.

The lock is a row in the state store naming its holder (pid, process start time, host,
command) with a lease. A second apply while the holder lives fails at once with the
holder named (no waiting: the operator should know somebody else is converging). A holder
that died (kill -9 mid-apply) is taken over, and the takeover is written to the audit log
so the half-done apply is visible.

The lease matters only for a holder on another host, whose process we cannot see: a live
holder on this host is never taken over, however long it runs (a short lease must not let
a second apply run beside the first). ``renew`` raises if the lock is no longer ours.
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
from runner.state.process_identity import alive, start_time
from runner.state.state_store import StateStore

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
        if self.host != socket.gethostname():
            return now <= self.lease_until  # cannot see another host's processes: the lease
        return alive(self.pid, self.start)

    def gone_because(self) -> str:
        """Why a holder that is not live may be taken over: ``dead`` or ``lease expired``."""
        return "dead" if self.host == socket.gethostname() else "lease expired"

    def is_me(self) -> bool:
        me = os.getpid()
        return self.pid == me and self.host == socket.gethostname() and (
            self.start is None or self.start == start_time(me))


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
        if previous is not None and not previous.is_me() and previous.is_live(now):
            raise LockHeld(f"another apply holds the lock: {previous.describe()}")
        db.execute("DELETE FROM lock WHERE name = ?", (LOCK_NAME,))
        db.execute(
            "INSERT INTO lock (name, holder_pid, holder_start, holder_host, holder_cmd,"
            " acquired_at, lease_until) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (LOCK_NAME, me, start_time(me), socket.gethostname(), _command(), now, now + lease_s),
        )
    taken_over = previous if previous is not None and not previous.is_me() else None
    if taken_over is not None:
        store.audit(
            "lock.takeover", actor=actor, outcome="ok",
            previous=taken_over.describe(), reason=f"holder {taken_over.gone_because()}",
        )
    return taken_over


def renew(store: StateStore, lease_s: float = DEFAULT_LEASE_S) -> None:
    """Extend our lease (long applies and ``--watch`` loops call this between steps).

    Raises LockHeld when the lock is no longer ours: carrying on would let two applies
    converge the same services at once.
    """
    me = os.getpid()
    with store.transaction() as db:
        current = holder(store)
        if current is None or not current.is_me():
            who = current.describe() if current else "nobody"
            raise LockHeld(f"lost the apply lock (now held by {who}): stopping this apply")
        db.execute(
            "UPDATE lock SET lease_until = ? WHERE name = ? AND holder_pid = ?",
            (time.time() + lease_s, LOCK_NAME, me),
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
