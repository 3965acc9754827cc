"""A fourth project is added by creating only its folder and its service spec.

In a git copy of this repository, the fixture ``tests/fixtures/new_project`` (a tiny
lead-conversion classifier with its own contract, generator, pipeline and service) is
added as ``projects/leadscore/`` and ``specs/services/leadscore.yaml``; then, through the
real ``inv`` CLI of the copy: validate, render, train (``dvc repro``), reconcile (what
``inv up`` runs after MLflow; the registry is sqlite), a prediction on its port, and a
clean plan. The copy's ``runner/`` is byte-identical to this one's at the end.

For speed the copy carries only the new service's spec (the three others are dropped, so
reconcile does not train and start them) and a 2 s post-deploy watch instead of 30 s.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from reconcile_fixtures import REPO, _drop_service, free_port, git  # noqa: E402

pytestmark = [pytest.mark.integration, pytest.mark.slow]

INV = str(REPO / ".venv" / "bin" / "inv")
FIXTURE = REPO / "tests" / "fixtures" / "new_project"
NEW = "leadscore"
OTHERS = ("bankchurn", "carvision", "telecom")


def tracked_files(root: Path) -> list[str]:
    """The repository's files as a commit would hold them (tracked or new, not ignored)."""
    out = subprocess.run(["git", "-C", str(root), "ls-files", "-z", "--cached", "--others",
                          "--exclude-standard"], check=True, capture_output=True).stdout
    names = sorted({n for n in out.decode().split("\0") if n})
    return [n for n in names if (root / n).is_file() and not n.startswith(".venv")]


def tree_digest(root: Path, under: str) -> str:
    """One hash over the paths and bytes of every file under ``root/under``."""
    digest = hashlib.sha256()
    for path in sorted((root / under).rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


class Copy:
    """A git copy of the repository and the environment its ``inv`` runs in."""

    def __init__(self, root: Path, state: Path, port: int) -> None:
        self.root, self.state, self.port = root, state, port
        self.env = {**os.environ, "MLGITOPS_ROOT": str(root), "MLGITOPS_STATE_DIR": str(state),
                    "MLGITOPS_ACTOR": "new-project-test", "PYTHONPATH": str(root),
                    "OMP_NUM_THREADS": "1", "MLFLOW_DISABLE_TELEMETRY": "true",
                    "PATH": f"{Path(INV).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
        self.env.pop("MLFLOW_TRACKING_URI", None)
        self.env.pop("MLFLOW_REGISTRY_URI", None)

    def inv(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        started = time.monotonic()
        proc = subprocess.run([INV, "--search-root", str(self.root), *args], cwd=self.root,
                              env=self.env, capture_output=True, text=True, timeout=timeout,
                              check=False)
        print(f"inv {' '.join(args)}: exit {proc.returncode} in "
              f"{time.monotonic() - started:.1f}s")
        return proc


def make_copy(tmp: Path) -> Path:
    """This repository's files in a fresh git repo, with only the new service to come."""
    root = tmp / "repo"
    for name in tracked_files(REPO):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, root / name)
    for other in OTHERS:
        (root / "specs" / "services" / f"{other}.yaml").unlink()
        for overlay in (root / "specs" / "environments").glob("*.yaml"):
            _drop_service(overlay, other)
    platform = root / "specs" / "platform.yaml"
    platform.write_text(re.sub(r"(?m)^post_deploy_watch_s: \d+", "post_deploy_watch_s: 2",
                               platform.read_text()))
    git(root, "init", "-q")
    git(root, "config", "user.email", "test@example.invalid")
    git(root, "config", "user.name", "test")
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", "the toolkit, three projects, no service spec")
    return root


def add_project(root: Path, port: int) -> list[str]:
    """Copy the fixture in (the project folder and the spec only); return what changed."""
    shutil.copytree(FIXTURE / "projects" / NEW, root / "projects" / NEW)
    spec = root / "specs" / "services" / f"{NEW}.yaml"
    text = (FIXTURE / "specs" / "services" / f"{NEW}.yaml").read_text()
    spec.write_text(re.sub(r"(?m)^port: \d+", f"port: {port}", text))
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", f"add the {NEW} project")
    return git(root, "diff", "--name-only", "HEAD~1", "HEAD").splitlines()


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Copy]:
    tmp = tmp_path_factory.mktemp("newproject")
    port = free_port()
    lab = Copy(make_copy(tmp), tmp / "state", port)
    try:
        yield lab
    finally:
        lab.inv("down", timeout=120)


def _ok(proc: subprocess.CompletedProcess[str]) -> str:
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    return out


def predict(port: int, record: dict[str, object]) -> tuple[int, dict[str, object]]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("POST", "/predict", body=json.dumps(record),
                     headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        return resp.status, json.loads(resp.read())
    finally:
        conn.close()


def test_a_project_is_a_folder(lab: Copy) -> None:
    runner_before = tree_digest(REPO, "runner")
    changed = add_project(lab.root, lab.port)
    assert changed and all(
        name.startswith(f"projects/{NEW}/") or name == f"specs/services/{NEW}.yaml"
        for name in changed
    ), changed

    _ok(lab.inv("validate"))
    out = _ok(lab.inv("render"))
    assert "rendered" in out
    dockerfile = (lab.root / "generated" / "dev" / "docker" / NEW / "Dockerfile").read_text()
    assert f'PORT="{lab.port}"' in dockerfile and f'MODEL_NAME="{NEW}-model"' in dockerfile
    assert f'COPY ["projects/{NEW}/", "/app/projects/{NEW}/"]' in dockerfile

    # Train: the project's own DVC pipeline through the toolkit's shared stages.
    out = _ok(lab.inv("train", "--service", NEW))
    assert f"{NEW}: {NEW}-model version 1 " in out, out
    metrics = json.loads((lab.root / "projects" / NEW / "metrics.json").read_text())
    assert metrics["model"]["roc_auc"] > metrics["baselines"]["dummy"]["roc_auc"]

    # Deploy (what `inv up` runs once MLflow is up): one replica on the spec's port.
    out = _ok(lab.inv("reconcile"))
    assert NEW in out
    sample = json.loads(
        (lab.root / "projects" / NEW / "tests" / "fixtures" / "sample_request.json").read_text())
    status, body = predict(lab.port, sample)
    assert status == 200, body
    assert body["prediction"] in (0, 1) and 0.0 <= float(body["probability"]) <= 1.0
    status, body = predict(lab.port, {**sample, "source": "billboard"})
    assert status == 422 and "source" in json.dumps(body), body  # the contract's categories

    out = _ok(lab.inv("plan"))
    assert f"{NEW} is at revision 1, healthy" in out, out

    # Nothing in the toolkit changed for it.
    assert tree_digest(lab.root, "runner") == tree_digest(REPO, "runner") == runner_before
    assert git(lab.root, "status", "--porcelain", "--", "runner") == ""
