"""Reconcile end to end with real components: MLflow sqlite registry, real uvicorn replicas
started by the local runtime through ``python -m runner.serving.launch``, real git.

One module-scoped platform, driven through the scenarios in order (replicas take seconds
to load a model, so they are not restarted per test).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import pytest
from reconcile_fixtures import (
    Load,
    free_port,
    git,
    make_repo,
    model_version,
    register_models,
    sample_body,
    set_version,
)

from runner.commands.converge import plan_command, reconcile_command, rollback_command
from runner.commands.platform_up import health_command
from runner.commands.status import history_command, status_command
from runner.errors import LockHeld
from runner.operations import open_env

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    tmp = tmp_path_factory.mktemp("reconcile")
    port = free_port()
    root = make_repo(tmp, port=port)
    state = tmp / "state"
    uri = register_models(state)
    saved = {k: os.environ.get(k) for k in ("MLGITOPS_ROOT", "MLGITOPS_STATE_DIR",
                                            "MLFLOW_TRACKING_URI")}
    os.environ.update(MLGITOPS_ROOT=str(root), MLGITOPS_STATE_DIR=str(state),
                      MLFLOW_TRACKING_URI=uri)
    try:
        yield {"root": root, "state": state, "port": port, "uri": uri}
    finally:
        env = open_env(root, quiet=True)
        env.runtime.remove("bankchurn")
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _facts(p: dict) -> list:
    env = open_env(p["root"], quiet=True)
    return env.runtime.facts(["bankchurn"])["bankchurn"]


def test_first_reconcile_creates_and_second_plans_nothing(platform, capsys):
    assert plan_command() == 2
    assert "create   bankchurn" in capsys.readouterr().out
    assert reconcile_command() == 0
    assert model_version(platform["port"]) == "1"
    assert plan_command() == 0
    out = capsys.readouterr().out
    assert "bankchurn is at revision 1, healthy" in out
    assert reconcile_command(as_json=True) == 0
    assert json.loads(capsys.readouterr().out)["plan"]["changes"] == 0
    health_command(as_json=True)  # MLflow is not started here: only the service rows count
    rows = json.loads(capsys.readouterr().out)["endpoints"]
    assert [r["ok"] for r in rows if r["component"] == "bankchurn"] == [True, True]
    assert status_command(as_json=True) == 0
    (row,) = json.loads(capsys.readouterr().out)["services"]
    assert (row["running_versions"], row["replicas"], row["healthy"]) == ([1], "1/1", True)


def test_version_change_replaces_with_zero_failed_requests(platform, capsys):
    set_version(platform["root"], 2)
    assert plan_command() == 2
    assert "replace  bankchurn      model version 1 -> 2" in capsys.readouterr().out
    with Load(platform["port"], sample_body()) as load:
        time.sleep(1)
        assert reconcile_command() == 0
        time.sleep(1)
    assert load.sent > 100 and load.failed == 0, load.errors[:5]
    assert model_version(platform["port"]) == "2"
    assert [f.model_version for f in _facts(platform)] == [2]
    assert plan_command() == 0
    env = open_env(platform["root"], quiet=True)
    assert env.store.current("bankchurn").number == 2  # type: ignore[union-attr]


def test_rollback_commits_the_spec_with_zero_failed_requests(platform, capsys):
    root = platform["root"]
    # The replace before this test parked v1 as warm standby: status shows it, plan ignores it.
    assert status_command(as_json=True) == 0
    (row,) = json.loads(capsys.readouterr().out)["services"]
    assert (row["running_versions"], row["standby_versions"]) == ([2], [1])
    served_again: list[float] = []
    with Load(platform["port"], sample_body()) as load:
        t0 = time.monotonic()
        done = threading.Thread(target=lambda: served_again.extend(
            [time.monotonic() - t0] if rollback_command("bankchurn", reason="error spike in test")
            == 0 else []))
        done.start()
        while model_version(platform["port"]) != "1" and time.monotonic() - t0 < 120:
            time.sleep(0.02)
        first_v1 = time.monotonic() - t0
        done.join(timeout=120)
        time.sleep(0.5)
    assert served_again, "rollback_command failed"
    assert load.failed == 0, load.errors[:5]
    # Unparked, not cold-started (a cold start imports mlflow and loads the model: 5-40 s).
    assert first_v1 < 5.0, f"v1 served again only after {first_v1:.1f} s"
    assert model_version(platform["port"]) == "1"
    assert [f.model_version for f in _facts(platform)] == [1]
    env = open_env(root, quiet=True)
    assert [f.model_version for f in env.runtime.standby("bankchurn")] == [2]
    assert "  version: 1\n" in (root / "specs" / "services" / "bankchurn.yaml").read_text()
    assert "error spike in test" in git(root, "log", "-1", "--format=%s")
    assert git(root, "status", "--porcelain") == ""
    assert plan_command() == 0  # the spec now pins what runs: reconcile keeps it
    capsys.readouterr()
    assert history_command("bankchurn") == 0
    out = capsys.readouterr().out
    assert "rolled_back" in out and "rollback to revision 1: error spike in test" in out


def test_failing_candidate_is_rolled_back_and_old_keeps_serving(platform):
    root = platform["root"]
    set_version(root, 3)  # v3 fails its self-test: /health never turns 200
    with Load(platform["port"], sample_body(), rate=50) as load:
        assert reconcile_command() == 1
    assert load.failed == 0, load.errors[:5]
    assert model_version(platform["port"]) == "1"
    assert "  version: 1\n" in (root / "specs" / "services" / "bankchurn.yaml").read_text()
    assert "automatic" in git(root, "log", "-1", "--format=%s")
    env = open_env(root, quiet=True)
    assert env.store.revisions("bankchurn")[-1].outcome == "failed"  # the v3 attempt
    assert plan_command() == 0


HOLD_LOCK = """
import sys, time
from pathlib import Path
from runner.state import StateStore
from runner.state.lock import acquire
acquire(StateStore(Path(sys.argv[1])), actor="other")
print("held", flush=True)
time.sleep(60)
"""


def test_second_apply_fails_at_once_naming_the_holder(platform):
    proc = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(platform["state"])],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
        started = time.monotonic()
        with pytest.raises(LockHeld, match=f"pid {proc.pid}"):
            reconcile_command()
        assert time.monotonic() - started < 3
    finally:
        proc.kill()
        proc.wait()


RUNNER = "from runner.commands.converge import reconcile_command as r; r()"


def test_runner_killed_mid_apply_next_reconcile_converges(platform):
    root, state = platform["root"], platform["state"]
    set_version(root, 2)
    run_dir = state / "run" / "services" / "bankchurn"
    proc = subprocess.Popen([sys.executable, "-c", RUNNER], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not any("-v2-" in p.name
                                                  for p in run_dir.glob("*.json")):
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)  # the candidate is starting: half-way through
    proc.wait()
    assert reconcile_command() == 0
    facts = _facts(platform)
    assert [(f.model_version, f.running) for f in facts] == [(2, True)]
    assert model_version(platform["port"]) == "2"
    assert plan_command() == 0
    env = open_env(root, quiet=True)
    assert any(e.action == "lock.takeover" for e in env.store.events())


def test_killed_replica_is_named_by_plan_and_watch_heals_it_within_one_interval(
    platform, capsys
):
    (victim,) = _facts(platform)
    os.kill(victim.pid, signal.SIGKILL)
    time.sleep(0.3)
    capsys.readouterr()
    assert plan_command() == 2
    out = capsys.readouterr().out
    assert "restart" in out and victim.replica in out and "not running" in out
    interval = 3
    code = f"from runner.commands.converge import reconcile_command as r; r(watch={interval})"
    killed = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        healed = None
        while time.monotonic() - killed < 120:
            live = [f for f in _facts(platform) if f.running and f.healthy]
            if live and live[0].pid != victim.pid:
                healed = time.monotonic() - killed
                break
            time.sleep(0.2)
        assert healed is not None
        # Within one interval to notice, plus the new replica's own start (model load).
        load_budget = 60
        assert healed < interval + load_budget
        assert model_version(platform["port"]) == "2"
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
    assert plan_command() == 0
