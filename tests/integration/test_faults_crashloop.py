"""Fault: a service that crashes at start (issue 13).

bankchurn pinned to a model version that fails its self-test at start: every start
attempt ends with the replica exiting / refusing. Reconcile rounds (what ``inv reconcile
--watch`` runs) must back off between attempts (doubling), stop after ``CAP`` crashes with
the service held (an audit event, a notification through the sinks, a failed outcome each
round, no more starts), and try again only when a person runs ``inv deploy --service``.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator

import pytest
from reconcile_fixtures import free_port, make_repo, register_models, set_version

from runner.commands.converge import deploy_command, reconcile_command
from runner.reconcile.crashloop import BACKOFF_ENV, CAP
from runner.state.state_store import StateStore

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture
def lab(tmp_path: object, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict]:
    from pathlib import Path

    tmp = Path(str(tmp_path))
    root = make_repo(tmp, port=free_port(), watch_s=0)
    set_version(root, 3)  # registered, but fails its self-test at start
    state = tmp / "state"
    uri = register_models(state)
    for key, value in {"MLGITOPS_ROOT": str(root), "MLGITOPS_STATE_DIR": str(state),
                       "MLFLOW_TRACKING_URI": uri, BACKOFF_ENV: "1"}.items():
        monkeypatch.setenv(key, value)
    yield {"root": root, "state": state}


def _starts(state) -> list[float]:
    store = StateStore(state)
    try:
        return [e.at for e in store.events("bankchurn") if e.action == "deploy"
                and e.outcome == "failed"]
    finally:
        store.close()


def test_crash_loop_backs_off_then_holds_and_alerts(lab: dict) -> None:
    state = lab["state"]
    deadline = time.monotonic() + 150
    rounds = 0
    while len(_starts(state)) < CAP and time.monotonic() < deadline:
        assert reconcile_command() == 1  # every round reports the service failed
        rounds += 1
        time.sleep(0.2)
    starts = _starts(state)
    assert len(starts) == CAP, starts
    assert rounds > CAP  # rounds in between only backed off
    gaps = [b - a for a, b in zip(starts, starts[1:], strict=False)]
    for i, gap in enumerate(gaps):  # at least the doubling backoff between attempts
        assert gap >= 1.0 * 2 ** i, gaps
    # Held: more rounds start nothing, and say why.
    for _ in range(3):
        assert reconcile_command() == 1
    assert len(_starts(state)) == CAP
    store = StateStore(state)
    try:
        held = [e for e in store.events("bankchurn") if e.action == "crashloop"]
        assert held and held[-1].outcome == "held" and held[-1].detail["failures"] == CAP
        row = store.db.execute("SELECT held FROM crashloop WHERE service = 'bankchurn'").fetchone()
        assert row[0] == 1
    finally:
        store.close()
    sent = [json.loads(line) for p in (state / "notifications.jsonl",
                                       lab["root"] / ".state" / "notifications.jsonl")
            if p.exists() for line in p.read_text().splitlines()]
    assert any(m.get("event") == "crashloop" or "crashloop" in json.dumps(m) for m in sent), sent
    # A person asks for it: one more attempt (it crashes again, counted afresh).
    assert deploy_command("bankchurn") == 1
    assert len(_starts(state)) == CAP + 1
    assert os.environ[BACKOFF_ENV] == "1"
