"""State store: revisions ordered per service, audit append-only, apply lock semantics."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from runner.errors import LockHeld
from runner.state import FAILED, SUCCESS, StateStore, apply_lock, holder
from runner.state.lock import acquire, release


@pytest.fixture()
def store(tmp_path: Path) -> StateStore:
    return StateStore(tmp_path / "state")


def _rev(store: StateStore, service: str, version: int, outcome: str = SUCCESS) -> int:
    rev = store.add_revision(
        service, spec_hash=f"h{version}", model_name=f"{service}-model", model_version=version,
        actor="tester", reason=f"v{version}", outcome=outcome, image="img:1", git_commit="abc",
    )
    return rev.number


def test_revisions_are_numbered_per_service_and_current_is_latest_success(store: StateStore):
    assert [_rev(store, "a", 1), _rev(store, "a", 2), _rev(store, "b", 1)] == [1, 2, 1]
    _rev(store, "a", 3, outcome=FAILED)
    current = store.current("a")
    assert current is not None and current.number == 2 and current.model_version == 2
    assert {s: r.number for s, r in store.current_all().items()} == {"a": 2, "b": 1}
    assert [r.model_version for r in store.revisions("a")] == [1, 2, 3]
    assert store.revisions("a")[0].reason == "v1" and store.revisions("a")[0].actor == "tester"


def test_previous_skips_failed_and_identical_revisions(store: StateStore):
    _rev(store, "a", 1)
    _rev(store, "a", 2)
    _rev(store, "a", 3, outcome=FAILED)
    _rev(store, "a", 2)  # a redeploy of the same thing is not a rollback target
    prev = store.previous("a", before=4)
    assert prev is not None and prev.number == 1 and prev.model_version == 1


def test_audit_log_is_append_only(store: StateStore):
    store.audit("apply", actor="tester", service="a", outcome="ok", actions=2)
    store.audit("rollback", actor="tester", service="a", outcome="ok", no_commit=True)
    events = store.events("a")
    assert [e.action for e in events] == ["apply", "rollback"]
    assert events[1].detail == {"no_commit": True}
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        store.db.execute("UPDATE audit SET outcome = 'x'")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        store.db.execute("DELETE FROM audit")


HOLD = """
import sys, time
from pathlib import Path
from runner.state import StateStore
from runner.state.lock import acquire
acquire(StateStore(Path(sys.argv[1])), actor="other")
print("held", flush=True)
time.sleep(60)
"""


def test_live_holder_makes_second_apply_fail_at_once_and_dead_holder_is_taken_over(
    store: StateStore, tmp_path: Path
):
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(tmp_path / "state")], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
        with pytest.raises(LockHeld, match=f"pid {proc.pid}"):
            acquire(store, actor="me")
    finally:
        proc.kill()
        proc.wait()
    # The holder died without releasing (kill -9): the next apply takes over and says so.
    with apply_lock(store, actor="me") as taken_over:
        assert taken_over is not None and taken_over.pid == proc.pid
        current = holder(store)
        assert current is not None and current.pid != proc.pid
    assert holder(store) is None
    assert any(e.action == "lock.takeover" for e in store.events())


def test_expired_lease_is_taken_over(store: StateStore):
    acquire(store, actor="me", lease_s=-1)  # our own lock, already expired
    store.db.execute("UPDATE lock SET holder_pid = 1")  # pretend pid 1 (alive) holds it
    with apply_lock(store, actor="me") as taken_over:
        assert taken_over is not None and taken_over.pid == 1
    release(store)
