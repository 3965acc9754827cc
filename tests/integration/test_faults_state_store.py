"""Fault: a corrupted state store (issue 13). Overwritten with garbage, truncated, or with
a damaged page, ``.state/state.db`` is detected when it is opened (PRAGMA quick_check)
and reported in one line that names the recovery command, never as a traceback.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from fault_support import inv
from reconcile_fixtures import free_port, make_repo

from runner.errors import StateCorrupt
from runner.state.state_store import StateStore

pytestmark = pytest.mark.integration


def _filled_store(state: Path) -> Path:
    store = StateStore(state)
    for n in range(300):  # enough rows for several pages, so a damaged page is not the header
        store.add_revision("telecom", spec_hash=f"h{n}" * 20, model_name="m", model_version=n,
                           actor="test", reason="x" * 200, outcome="success")
    store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.close()
    return state / "state.db"


def _garbage(db: Path) -> None:
    db.write_bytes(os.urandom(8192))


def _truncated(db: Path) -> None:
    data = db.read_bytes()
    db.write_bytes(data[: len(data) // 3])


def _damaged_page(db: Path) -> None:
    data = bytearray(db.read_bytes())
    page = 4096
    data[3 * page: 3 * page + page] = b"\xff" * page  # a B-tree page, header intact
    db.write_bytes(bytes(data))


@pytest.mark.parametrize("damage", [_garbage, _truncated, _damaged_page],
                         ids=["garbage", "truncated", "damaged-page"])
def test_corrupt_store_is_detected_at_open_with_the_recovery_command(tmp_path, damage):
    state = tmp_path / "state"
    db = _filled_store(state)
    for side in ("state.db-wal", "state.db-shm"):
        (state / side).unlink(missing_ok=True)
    damage(db)
    with pytest.raises(StateCorrupt) as caught:
        StateStore(state)
    msg = caught.value.one_line()
    assert "\n" not in msg and "inv restore latest" in msg and f"mv {db}" in msg, msg


def test_inv_reports_a_corrupt_store_in_one_line(tmp_path):
    root = make_repo(tmp_path, port=free_port())
    state = tmp_path / "state"
    db = _filled_store(state)
    _garbage(db)
    for args in (["status"], ["plan"], ["history", "--service", "bankchurn"]):
        proc = inv(root, state, *args, timeout=120)
        assert proc.returncode == 1, (args, proc.stdout, proc.stderr)
        assert "Traceback" not in proc.stderr + proc.stdout
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and "inv restore latest" in lines[0], (args, proc.stderr)
    # Moving it aside, as the message says, starts a fresh store.
    db.rename(db.with_name("state.db.corrupt"))
    for side in ("state.db-wal", "state.db-shm"):
        (state / side).unlink(missing_ok=True)
    proc = inv(root, state, "status", timeout=120)
    assert "Traceback" not in proc.stderr and "corrupted" not in proc.stderr, proc.stderr
