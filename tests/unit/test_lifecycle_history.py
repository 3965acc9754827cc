"""`inv history --at`: which revision served at time T (real state store in a temp dir)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from runner.errors import PermanentError
from runner.lifecycle.history import parse_time, version_at
from runner.state.state_store import FAILED, ROLLED_BACK, SUCCESS, StateStore


def _rev(store: StateStore, version: int, outcome: str, commit: str) -> float:
    store.add_revision("svc", spec_hash=f"h{version}", model_name="m", model_version=version,
                       actor="tester", reason=f"to v{version}", outcome=outcome,
                       git_commit=commit)
    time.sleep(0.02)
    return time.time()


def test_version_at_each_moment(tmp_path: Path) -> None:
    store = StateStore(tmp_path)
    before = time.time()
    time.sleep(0.02)
    t1 = _rev(store, 1, SUCCESS, "c1")
    store.audit("promote", actor="alice", service="svc", outcome="ok", from_version=1,
                to_version=2, commit="c2", reason="drift")
    t2 = _rev(store, 2, SUCCESS, "c2")
    t_failed = _rev(store, 3, FAILED, "c3")  # a failed deploy never served
    t3 = _rev(store, 4, SUCCESS, "c4")
    store.set_outcome("svc", 4, ROLLED_BACK)
    store.audit("rollback", actor="bob", service="svc", outcome="ok", to_revision=2,
                model_version=2, reason="errors")
    t4 = _rev(store, 2, SUCCESS, "c5")

    assert version_at(store, "svc", before) is None
    expect = {t1: (1, "c1"), t2: (2, "c2"), t_failed: (2, "c2"), t3: (4, "c4"), t4: (2, "c5")}
    for moment, (version, commit) in expect.items():
        found = version_at(store, "svc", moment)
        assert found is not None
        assert (found["model_version"], found["spec_commit"]) == (version, commit)
    at3 = version_at(store, "svc", t3)
    assert at3 is not None and at3["outcome_now"] == ROLLED_BACK
    at2 = version_at(store, "svc", t2)
    assert at2 is not None and [e["action"] for e in at2["events"]] == ["promote"]
    assert at2["events"][0]["actor"] == "alice"
    at4 = version_at(store, "svc", t4)
    assert at4 is not None and at4["events"][-1]["action"] == "rollback"
    store.close()


def test_parse_time() -> None:
    assert parse_time("1700000000.5") == 1700000000.5
    assert parse_time("2026-11-29T10:00:00Z") == parse_time("2026-11-29T10:00:00")
    assert parse_time("2026-11-29T11:00:00+01:00") == parse_time("2026-11-29T10:00:00Z")
    with pytest.raises(PermanentError, match="--at"):
        parse_time("yesterday")
