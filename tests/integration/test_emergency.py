"""``inv emergency service-down`` end to end (issue 11 item 4): a new revision that
crash-loops is replaced by the last healthy one, and the report says what happened.

Real components: MLflow sqlite registry with small real models, real replicas through
the local runtime, real git. The crash loop is a watcher that kills every v2 replica the
moment it runs (what a model that segfaults under traffic looks like from outside).
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from reconcile_fixtures import (
    free_port,
    git,
    make_repo,
    model_version,
    register_models,
    set_version,
)

from runner.commands.converge import reconcile_command
from runner.emergency import emergency_command
from runner.operations import open_env

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture()
def platform(tmp_path: Path) -> Iterator[dict]:
    port = free_port()
    root = make_repo(tmp_path, port=port, watch_s=0)
    state = tmp_path / "state"
    uri = register_models(state)
    saved = {k: os.environ.get(k) for k in ("MLGITOPS_ROOT", "MLGITOPS_STATE_DIR",
                                            "MLFLOW_TRACKING_URI")}
    os.environ.update(MLGITOPS_ROOT=str(root), MLGITOPS_STATE_DIR=str(state),
                      MLFLOW_TRACKING_URI=uri)
    try:
        yield {"root": root, "state": state, "port": port}
    finally:
        open_env(root, quiet=True).runtime.remove("bankchurn")
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def crash_loop(root: Path, version: int, stop: threading.Event, killed: list[int]) -> None:
    """Kill every serving replica of ``version`` as soon as it is seen."""
    while not stop.is_set():
        env = open_env(root, quiet=True)
        for fact in env.runtime.facts(["bankchurn"], check_health=False)["bankchurn"]:
            if fact.model_version == version and fact.running and fact.pid not in killed:
                os.kill(fact.pid, signal.SIGKILL)
                killed.append(fact.pid)
        env.store.close()
        stop.wait(0.1)


def test_service_down_rolls_a_crash_looping_revision_back_and_reports(platform, capsys):
    root, state, port = platform["root"], platform["state"], platform["port"]
    assert reconcile_command() == 0  # revision 1: v1, healthy
    set_version(root, 2)
    assert reconcile_command() == 0  # revision 2: v2 passed its checks...
    assert model_version(port) == "2"
    stop, killed = threading.Event(), []
    loop = threading.Thread(target=crash_loop, args=(root, 2, stop, killed), daemon=True)
    loop.start()  # ...and then crashes
    try:
        deadline = time.monotonic() + 10
        while not killed and time.monotonic() < deadline:
            time.sleep(0.05)
        assert killed and model_version(port) is None  # down
        capsys.readouterr()
        began = time.monotonic()
        assert emergency_command("service-down", "bankchurn") == 0
        took = time.monotonic() - began
    finally:
        stop.set()
        loop.join(timeout=5)
    out = capsys.readouterr().out
    assert "recovered: bankchurn rolled back to revision" in out, out
    assert model_version(port) == "1"
    assert "  version: 1\n" in (root / "specs" / "services" / "bankchurn.yaml").read_text()
    assert "emergency service-down" in git(root, "log", "-1", "--format=%s")
    (report_path,) = (state / "reports").glob("emergency-service-down-bankchurn-*.json")
    report = json.loads(report_path.read_text())
    assert report["outcome"] == "recovered"
    assert [s["name"] for s in report["steps"]] == ["health", "recent deploys", "logs",
                                                    "rollback", "health after"]
    assert [d["model_version"] for d in report["deploys"]] == [1, 2]
    assert any("-v2-" in log["replica"] for log in report["logs"])  # the crashed replica's log
    assert any(r["component"] == "bankchurn" and not r["ok"] for r in report["health"])
    assert report_path.with_suffix(".md").is_file()
    env = open_env(root, quiet=True)
    assert any(e.action == "emergency.service-down" and e.outcome == "recovered"
               for e in env.store.events("bankchurn"))
    print(f"emergency service-down: {took:.1f}s from call to v1 serving")
