"""The pull loop end to end: a local bare remote, a platform checkout converged by
`inv reconcile --watch 5 --git`, commits pushed from a developer clone.

A good commit (model v1 -> v2) is fetched within two intervals and rolled out under load
with no failed request; a commit with an invalid spec is refused, the checkout stays at the
last good commit, which keeps serving, and `inv status` names both commits.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

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

from runner import contract
from runner.operations import open_env

pytestmark = [pytest.mark.integration, pytest.mark.slow]
REPO = Path(__file__).resolve().parents[2]
INV = str(REPO / ".venv" / "bin" / "inv")
INTERVAL_S = 5


def wait(what: str, probe, timeout_s: float) -> float:  # noqa: ANN001
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        if probe():
            return time.monotonic() - started
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout_s:.0f}s waiting for {what}")


@pytest.fixture(scope="module")
def loop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    tmp = tmp_path_factory.mktemp("gitsync")
    port = free_port()
    dev = make_repo(tmp, port=port)  # the developer's clone
    remote = tmp / "remote.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(dev), str(remote)], check=True)
    git(dev, "remote", "add", "origin", str(remote))
    git(dev, "fetch", "-q", "origin")
    branch = git(dev, "rev-parse", "--abbrev-ref", "HEAD")  # git's default: master or main
    git(dev, "branch", "-q", f"--set-upstream-to=origin/{branch}")
    checkout = tmp / "checkout"  # what the platform host runs from
    subprocess.run(["git", "clone", "-q", str(remote), str(checkout)], check=True)
    state = tmp / "state"
    uri = register_models(state)
    env = {**os.environ, "MLGITOPS_ROOT": str(checkout), "MLGITOPS_STATE_DIR": str(state),
           "MLFLOW_TRACKING_URI": uri}
    env.pop("MLGITOPS_WEBHOOK_URL", None)
    log = open(tmp / "loop.log", "w")  # noqa: SIM115 - closed at teardown
    proc = subprocess.Popen([INV, "reconcile", "--watch", str(INTERVAL_S), "--git"], cwd=REPO,
                            env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    p = {"dev": dev, "checkout": checkout, "state": state, "port": port, "env": env,
         "log": tmp / "loop.log"}
    try:
        wait("v1 serving", lambda: model_version(port) == "1", 300)
        yield p
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=60)
        log.close()
        saved = {k: os.environ.get(k) for k in ("MLGITOPS_ROOT", "MLGITOPS_STATE_DIR",
                                                "MLFLOW_TRACKING_URI")}
        os.environ.update(MLGITOPS_ROOT=str(checkout), MLGITOPS_STATE_DIR=str(state),
                          MLFLOW_TRACKING_URI=uri)
        try:
            open_env(checkout, quiet=True).runtime.remove("bankchurn")
        finally:
            for k, v in saved.items():
                os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)


def _status(p: dict) -> dict:
    proc = subprocess.run([INV, "status", "--json"], cwd=REPO, env=p["env"],
                          capture_output=True, text=True, timeout=120, check=True)
    return json.loads(proc.stdout)


def _head(p: dict) -> str:
    return git(p["checkout"], "rev-parse", "HEAD")


def test_pushed_model_bump_is_deployed_under_load(loop: dict) -> None:
    with Load(loop["port"], sample_body(), rate=40) as load:
        set_version(loop["dev"], 2)
        git(loop["dev"], "push", "-q", "origin", "HEAD")
        pushed = git(loop["dev"], "rev-parse", "HEAD")
        fetched_s = wait("checkout fast-forwarded", lambda: _head(loop) == pushed,
                         2 * INTERVAL_S + 1)
        wait("v2 serving", lambda: model_version(loop["port"]) == "2", 300)
        time.sleep(1)
    assert fetched_s <= 2 * INTERVAL_S
    assert load.sent > 50 and load.failed == 0, load.errors[:5]
    wait("sync recorded", lambda: _status(loop)["sync"]["synced_commit"] == pushed, 60)


def test_invalid_commit_is_refused_and_the_last_good_keeps_serving(loop: dict) -> None:
    good = _head(loop)
    spec = loop["dev"] / "specs" / "services" / "bankchurn.yaml"
    spec.write_text(spec.read_text().replace("replicas: 1", "replicas: 0"))
    git(loop["dev"], "commit", "-qam", "bankchurn: zero replicas (invalid)")
    git(loop["dev"], "push", "-q", "origin", "HEAD")
    bad = git(loop["dev"], "rev-parse", "HEAD")
    wait("refusal", lambda: _status(loop)["sync"]["refused_commit"] == bad, 4 * INTERVAL_S)
    sync = _status(loop)["sync"]
    assert sync["status"] == "refused" and sync["synced_commit"] == good
    assert "replicas" in sync["reason"]
    assert _head(loop) == good and model_version(loop["port"]) == "2"
    text = subprocess.run([INV, "status"], cwd=REPO, env=loop["env"], capture_output=True,
                          text=True, timeout=120, check=True).stdout
    assert f"last synced {good[:12]}, refused {bad[:12]}" in text
    notes = (loop["state"] / "notifications.jsonl").read_text().splitlines()
    assert any(json.loads(n).get("event") == "sync.refused" and json.loads(n)["commit"] == bad
               for n in notes)
    from runner.monitor.exporter import RunnerCollector

    samples = [s for family in RunnerCollector([], loop["state"], "dev").collect()
               if family.name == contract.SYNC_INFO for s in family.samples]
    assert [s.labels for s in samples] == [{"environment": "dev", "status": "refused",
                                            "synced_commit": good, "refused_commit": bad}]
    assert "refused" in loop["log"].read_text()
