"""The real DVC pipelines, end to end, in a throw-away copy of the repository.

The three pipelines run once through ``inv train``'s function (``dvc repro`` of each
project) with small row counts, against a temporary MLflow state dir. Then: each model
is registered as version 1 with metrics, baselines, data version and git commit; the
registered model takes raw records; a second repro does nothing; and a wiped registry is
filled again by re-running only ``register``, without retraining.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from runner.ml import pipeline, registry, stages
from runner.ml.project import load_projects

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
SCHEMAS = {name: p.contract for name, p in load_projects(ROOT).items()}
get_schema = SCHEMAS.__getitem__
ROWS = {"bankchurn": 2500, "carvision": 4000, "telecom": 1500}
DVC = str(Path(sys.executable).parent / "dvc")


def git(repo: Path, *args: str) -> str:
    out = subprocess.run(["git", "-c", "user.name=test", "-c", "user.email=test@localhost",
                          *args], cwd=repo, check=True, capture_output=True, text=True)
    return out.stdout.strip()


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A git + DVC repository holding the three projects' code and the shared stage code."""
    repo = tmp_path_factory.mktemp("repo")
    shutil.copytree(ROOT / "runner" / "ml", repo / "runner" / "ml",
                    ignore=shutil.ignore_patterns("__pycache__"))
    for project in SCHEMAS:
        dest = repo / "projects" / project
        dest.mkdir(parents=True)
        for path in (ROOT / "projects" / project).glob("*.py"):
            shutil.copy(path, dest / path.name)  # generator, contract, features, service
        for name in ("dvc.yaml", "params.yaml"):
            shutil.copy(ROOT / "projects" / project / name, dest / name)
        params = yaml.safe_load((dest / "params.yaml").read_text())
        params["data"]["rows"] = ROWS[project]
        (dest / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    (repo / ".gitignore").write_text("/projects/*/data/\n/projects/*/models/\n")
    git(repo, "init", "-q")
    subprocess.run([DVC, "init", "-q"], cwd=repo, check=True)
    subprocess.run([DVC, "config", "core.analytics", "false"], cwd=repo, check=True)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "fixture")
    yield repo


@pytest.fixture(scope="module")
def state(repo: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One fresh state dir (empty MLflow) for the module, reached only through the env."""
    path = tmp_path_factory.mktemp("state")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLGITOPS_STATE_DIR", str(path))
        mp.setenv("MLGITOPS_ROOT", str(repo))
        mp.delenv("MLFLOW_TRACKING_URI", raising=False)
        yield path


@pytest.fixture(scope="module")
def trained(repo: Path, state: Path) -> dict[str, str]:
    """``inv train`` for every project: the first repro of each pipeline."""
    lines = pipeline.train(repo, None, capture=True)
    return {line.split(":")[0]: line for line in lines}


@pytest.mark.parametrize("project", sorted(SCHEMAS))
def test_repro_registers_version_1_with_evidence(
    project: str, repo: Path, state: Path, trained: dict[str, str]
) -> None:
    import mlflow.sklearn
    import pandas as pd

    schema = get_schema(project)
    assert trained[project].startswith(f"{project}: {schema.model_name} version 1 ")

    # The registry (sqlite under the temp state dir) holds version 1 with its evidence.
    assert registry.tracking_uri(repo) == f"sqlite:///{state / 'mlflow' / 'mlflow.db'}"
    info = registry.version_info(repo, schema.model_name, 1)
    raw = repo / "projects" / project / "data" / "raw" / schema.raw_file
    lock = yaml.safe_load((repo / "projects" / project / "dvc.lock").read_text())
    [raw_out] = lock["stages"]["generate"]["outs"]
    assert info["data_version"] == raw_out["md5"] == registry.file_md5(raw)
    assert info["git_commit"] == git(repo, "rev-parse", "HEAD")
    assert info["trained_at"]
    metric = schema.primary_metric
    for key in (metric, f"dummy_{metric}", f"linear_{metric}"):
        assert key in info["metrics"], key
    metrics = json.loads((repo / "projects" / project / "metrics.json").read_text())
    assert info["metrics"][metric] == metrics["model"][metric]
    if schema.task == "classification":
        assert metrics["model"]["roc_auc"] > metrics["baselines"]["dummy"]["roc_auc"] == 0.5
    else:
        assert metrics["model"]["r2"] > metrics["baselines"]["dummy"]["r2"]
    artifacts = state / "mlflow" / "artifacts" / project
    assert list(artifacts.rglob("model.skops")), "artifacts under the state dir"

    # The registered model is a Pipeline taking raw records, gaps included.
    model = mlflow.sklearn.load_model(f"models:/{schema.model_name}/1")
    gaps = {c.name: None for c in schema.features if c.nullable}
    frame = pd.DataFrame([schema.example, {**schema.example, **gaps}])
    if schema.task == "classification":
        proba = model.predict_proba(frame)
        assert proba.shape == (2, 2) and ((proba >= 0) & (proba <= 1)).all()
    else:
        assert (model.predict(frame) > 0).all()


def test_second_repro_is_a_noop(repo: Path, trained: dict[str, str]) -> None:
    targets = [f"projects/{p}/dvc.yaml" for p in sorted(SCHEMAS)]
    locks = {p: (repo / "projects" / p / "dvc.lock").read_text() for p in SCHEMAS}
    out = subprocess.run([DVC, "repro", *targets], cwd=repo, env=pipeline.stage_env(),
                         capture_output=True, text=True, check=True).stdout
    assert "Running stage" not in out
    assert "Data and pipelines are up to date" in out
    assert locks == {p: (repo / "projects" / p / "dvc.lock").read_text() for p in SCHEMAS}


def test_wiped_registry_is_filled_without_retraining(
    repo: Path, trained: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DVC sees everything up to date; inv train re-runs only register, as version 1."""
    project = "telecom"
    monkeypatch.setenv("MLGITOPS_STATE_DIR", str(tmp_path / "state2"))
    model_file = repo / "projects" / project / "models" / "model.joblib"
    before = model_file.stat().st_mtime_ns
    [line] = pipeline.train(repo, project, capture=True)
    assert "telecom-model version 1 " in line
    assert model_file.stat().st_mtime_ns == before, "the model was not retrained"
    status = subprocess.run([DVC, "status", f"projects/{project}/dvc.yaml"], cwd=repo,
                            capture_output=True, text=True, env=pipeline.stage_env(),
                            check=True)
    assert "up to date" in status.stdout


def test_bad_data_fails_prepare_naming_the_column(
    repo: Path, trained: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    """A broken raw file stops the pipeline at prepare with the column in the message."""
    project = "telecom"
    raw = repo / "projects" / project / "data" / "raw" / "users_behavior.csv"
    original = raw.read_bytes()
    try:
        lines = original.decode().splitlines()
        header = lines[0].split(",")
        row = lines[1].split(",")
        row[header.index("mb_used")] = "-5"
        raw.write_text("\n".join([lines[0], ",".join(row), *lines[2:]]) + "\n")
        code = stages.main(["prepare", project, "--project-dir", str(raw.parents[2])])
        err = capsys.readouterr().err
        assert code == 1
        assert "mb_used: 1 value(s) outside [0, 200000], e.g. -5.0" in err
        assert "Traceback" not in err
    finally:
        raw.write_bytes(original)


def test_tracking_uri_follows_the_environment(monkeypatch: pytest.MonkeyPatch,
                                              tmp_path: Path) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("MLGITOPS_STATE_DIR", str(tmp_path / "s"))
    assert registry.tracking_uri(tmp_path) == f"sqlite:///{tmp_path / 's' / 'mlflow' / 'mlflow.db'}"
    assert registry.artifact_location(tmp_path, "telecom") == \
        (tmp_path / "s" / "mlflow" / "artifacts" / "telecom").as_uri()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5000")
    assert registry.tracking_uri(tmp_path) == "http://127.0.0.1:5000"
    assert os.environ["MLGITOPS_STATE_DIR"].endswith("s")
