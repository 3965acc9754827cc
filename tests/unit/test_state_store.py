"""State store: revisions ordered per service, audit append-only, apply lock semantics."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from runner.errors import LockHeld
from runner.state import FAILED, SUCCESS, StateStore, apply_lock, holder
from runner.state.lock import acquire, renew


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


def test_live_holder_is_never_taken_over_whatever_its_lease(store: StateStore):
    acquire(store, actor="me", lease_s=-1)  # our own lock, already expired
    store.db.execute("UPDATE lock SET holder_pid = 1, holder_start = NULL")  # pid 1 is alive
    with pytest.raises(LockHeld, match="pid 1 "):
        acquire(store, actor="me")
    store.db.execute("DELETE FROM lock")


def test_expired_lease_of_another_host_is_taken_over_and_said_so(store: StateStore):
    acquire(store, actor="me", lease_s=-1)
    store.db.execute("UPDATE lock SET holder_pid = 1, holder_host = 'elsewhere'")
    with apply_lock(store, actor="me") as taken_over:
        assert taken_over is not None and taken_over.pid == 1
        assert taken_over.gone_because() == "lease expired"
    (event,) = [e for e in store.events() if e.action == "lock.takeover"]
    assert event.detail["reason"] == "holder lease expired"


def test_a_dead_holder_is_reported_dead(store: StateStore):
    acquire(store, actor="me")
    # A pid that cannot exist (above pid_max) on this host: dead whatever its lease says.
    store.db.execute("UPDATE lock SET holder_pid = 99999999")
    with apply_lock(store, actor="me") as taken_over:
        assert taken_over is not None and taken_over.gone_because() == "dead"


def test_renew_fails_loudly_once_the_lock_is_lost(store: StateStore):
    acquire(store, actor="me", lease_s=1)
    renew(store)  # still ours
    store.db.execute("UPDATE lock SET holder_pid = 1, holder_start = NULL")
    with pytest.raises(LockHeld, match="lost the apply lock.*pid 1 "):
        renew(store)
    store.db.execute("DELETE FROM lock")
    with pytest.raises(LockHeld, match="held by nobody"):
        renew(store)


def test_a_short_lease_does_not_let_a_second_process_in(store: StateStore, tmp_path: Path):
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD.replace('actor="other"', 'actor="other", lease_s=0.1'),
         str(tmp_path / "state")], stdout=subprocess.PIPE, text=True,
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
        import time

        time.sleep(0.3)  # the holder's lease has run out; the holder has not
        with pytest.raises(LockHeld, match=f"pid {proc.pid}"):
            acquire(store, actor="me")
    finally:
        proc.kill()
        proc.wait()


def test_state_dir_is_private_and_its_files_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    import os
    import stat

    from runner.runtime.process import spawn
    from runner.state import state_dir

    def mode(path: Path) -> int:
        return stat.S_IMODE(path.stat().st_mode)

    old = os.umask(0o022)
    try:
        existing = tmp_path / "old-state"
        existing.mkdir(mode=0o755)
        monkeypatch.setenv("MLGITOPS_STATE_DIR", str(existing))
        assert mode(state_dir()) == 0o700  # an existing 0755 one is tightened
        store = StateStore(tmp_path / "state")
        store.audit("x", actor="t", outcome="ok")
        assert mode(tmp_path / "state") == 0o700
        assert mode(store.path) == 0o600
        assert mode(store.path.with_name("state.db-wal")) == 0o600
        store.close()
        # A child the runner starts: its log and whatever it writes are 0600.
        out = tmp_path / "state" / "child.txt"
        proc = spawn([sys.executable, "-c", f"open({str(out)!r}, 'w').write('x')"],
                     env=dict(os.environ), log_path=tmp_path / "state" / "run" / "child.log")
        proc.wait(timeout=30)
        assert mode(tmp_path / "state" / "run" / "child.log") == 0o600
        assert mode(out) == 0o600
    finally:
        os.umask(old)
