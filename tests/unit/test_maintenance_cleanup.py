"""Clean-up by retention against a real MLflow sqlite registry (several versions, aliases):
check mode lists candidates, a real run deletes exactly those, a registered version's run
and artifacts survive, and a second run finds nothing (check, apply, check again)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from runner.operations import open_env
from runner.operations.service_modules import ENV
from runner.playbook import run_playbook
from runner.playbook_catalog import toolkit_modules

REPO = Path(__file__).resolve().parents[2]
DAY_MS = 86_400_000
PLAY = """
- name: clean
  tasks:
    - name: Clean up by retention
      cleanup: {}
"""


@pytest.fixture()
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    import mlflow
    import mlflow.sklearn
    import numpy as np
    from mlflow import MlflowClient
    from sklearn.dummy import DummyClassifier

    state = tmp_path / "state"
    (state / "mlflow").mkdir(parents=True)
    uri = f"sqlite:///{state / 'mlflow' / 'mlflow.db'}"
    monkeypatch.setenv("MLGITOPS_STATE_DIR", str(state))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("MLFLOW_REGISTRY_URI", uri)
    mlflow.set_tracking_uri(uri)
    client = MlflowClient(uri, uri)
    exp = client.create_experiment("exp", artifact_location=str(tmp_path / "artifacts"))
    old = int(time.time() * 1000) - 40 * DAY_MS
    model = DummyClassifier().fit(np.zeros((4, 1)), [0, 1, 0, 1])
    registered = []
    for _ in range(3):  # three versions, all old: age never makes a version's run a candidate
        run = client.create_run(exp, start_time=old)
        with mlflow.start_run(run_id=run.info.run_id):
            mlflow.sklearn.log_model(model, name="model", registered_model_name="m",
                                     pip_requirements=["scikit-learn"])
        client.set_terminated(run.info.run_id, end_time=old)
        registered.append(run.info.run_id)
    client.set_registered_model_alias("m", "production", "1")
    client.set_registered_model_alias("m", "challenger", "3")
    stale = []
    for _ in range(2):  # old experiment runs no version came from
        run = client.create_run(exp, start_time=old)
        client.log_text(run.info.run_id, "scratch", "notes.txt")
        client.set_terminated(run.info.run_id, end_time=old)
        stale.append(run.info.run_id)
    recent = client.create_run(exp)
    client.set_terminated(recent.info.run_id)
    reports = state / "reports" / "drift"
    reports.mkdir(parents=True)
    aged = time.time() - 40 * 86400
    (reports / "old.html").write_text("old")
    os.utime(reports / "old.html", (aged, aged))
    (reports / "new.html").write_text("new")
    logs = state / "run" / "services" / "bankchurn"
    logs.mkdir(parents=True)
    gone = logs / "bankchurn-v1-0123abcd-beef.log"
    gone.write_text("old replica")
    os.utime(gone, (aged, aged))
    env = open_env(REPO, "dev", quiet=True)
    yield {"client": client, "registered": registered, "stale": stale,
           "recent": recent.info.run_id, "old_report": reports / "old.html",
           "new_report": reports / "new.html", "log": gone, "env": env, "tmp": tmp_path,
           "artifacts": tmp_path / "artifacts"}
    env.store.close()


def _run(world: dict, *, check: bool):
    play = world["tmp"] / "clean.yaml"
    play.write_text(PLAY)
    env = world["env"]
    result = run_playbook(play, check=check, root=REPO, state_dir=env.state, output=None,
                          modules=toolkit_modules(), resources={ENV: env}, cache=False)
    assert result.ok, result.failures
    (rec,) = result.records
    return rec.result


def test_check_lists_then_run_deletes_exactly_those_and_never_a_version(world) -> None:
    client = world["client"]
    listed = _run(world, check=True)
    targets = {c["target"] for c in listed.data["candidates"]}
    expected = set(world["stale"]) | {str(world["old_report"]), str(world["log"])}
    assert targets == expected
    assert "would delete 4" in listed.msg
    assert all(client.get_run(r).info.lifecycle_stage == "active" for r in world["stale"])

    done = _run(world, check=False)
    assert {c["target"] for c in done.data["candidates"]} == expected  # the same list
    assert len(done.data["deleted"]) == 4
    from mlflow.exceptions import MlflowException

    for run_id in world["stale"]:
        with pytest.raises(MlflowException):
            client.get_run(run_id)  # gone from the database, not only marked deleted
        assert not (world["artifacts"] / run_id).exists()
    assert not world["old_report"].exists() and not world["log"].exists()
    assert world["new_report"].exists()
    assert client.get_run(world["recent"]).info.lifecycle_stage == "active"
    # Every registered version, its run and its files survive, and still loads.
    import mlflow.pyfunc

    for number, run_id in enumerate(world["registered"], start=1):
        assert client.get_run(run_id).info.lifecycle_stage == "active"
        assert client.get_model_version("m", str(number)).run_id == run_id
    assert client.get_model_version_by_alias("m", "production").version in ("1", 1)
    model = mlflow.pyfunc.load_model("models:/m@challenger")
    assert model is not None

    again = _run(world, check=True)
    assert again.data["candidates"] == [] and again.msg.startswith("nothing to delete")
