"""dvc and mlflow modules against the real tools (a temp DVC repo, a temp sqlite registry).

Check mode changes nothing, apply changes, a rerun reports no change.
"""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from runner.playbook import RunResult, run_playbook

pytestmark = pytest.mark.slow


def run(tmp_path: Path, text: str, extra: dict[str, Any] | None = None,
        **kw: Any) -> tuple[RunResult, str]:
    path = tmp_path / "pb.yaml"
    path.write_text(text)
    out = io.StringIO()
    result = run_playbook(path, extra, output=out, state_dir=tmp_path / "state", root=tmp_path,
                          **kw)
    return result, out.getvalue()


def changed(result: RunResult) -> list[str]:
    return [r.status for r in result.records]


def test_dvc_repro_check_apply_rerun(tmp_path: Path) -> None:
    repo = tmp_path / "proj"
    repo.mkdir()
    dvc = str(Path(sys.executable).parent / "dvc")
    subprocess.run([dvc, "init", "--no-scm", "-q"], cwd=repo, check=True)
    subprocess.run([dvc, "config", "core.analytics", "false"], cwd=repo, check=True)
    subprocess.run(
        [dvc, "stage", "add", "-q", "-n", "make", "-o", "out.txt",
         f"{sys.executable} -c \"open('out.txt', 'w').write('made')\""],
        cwd=repo, check=True,
    )
    book = """
- tasks:
    - dvc: {argv: [repro], cwd: proj}
      register: r
"""
    check, out = run(tmp_path, book, check=True)
    assert changed(check) == ["changed"] and not (repo / "out.txt").exists(), out
    apply, out = run(tmp_path, book)
    assert changed(apply) == ["changed"] and (repo / "out.txt").read_text() == "made", out
    again, out = run(tmp_path, book)
    assert changed(again) == ["ok"], out
    assert "up to date" in again.records[0].msg


def test_mlflow_alias_and_register_are_idempotent(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("MLFLOW_REGISTRY_URI", uri)  # an earlier test's mlflow may have set it
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    client.create_registered_model("demo-model")
    for i in (1, 2):
        client.create_model_version("demo-model", source=str(tmp_path / f"artifacts{i}"))
    client.set_registered_model_alias("demo-model", "production", "1")

    book = """
- tasks:
    - name: production follows the spec
      mlflow: {action: set_alias, model: demo-model, alias: production, version: "{{ v }}"}
    - name: register a third version
      mlflow: {action: register, model: demo-model, source: "{{ src }}"}
      register: reg
"""
    extra = {"v": 2, "src": str(tmp_path / "artifacts3")}
    check, out = run(tmp_path, book, extra, check=True, diff=True)
    assert changed(check) == ["changed", "changed"], out
    assert "-demo-model@production -> 1" in out and "+demo-model@production -> 2" in out
    assert client.get_model_version_by_alias("demo-model", "production").version in (1, "1")

    apply, out = run(tmp_path, book, extra)
    assert changed(apply) == ["changed", "changed"], out
    assert int(client.get_model_version_by_alias("demo-model", "production").version) == 2
    assert apply.facts["reg"]["version"] == 3

    again, out = run(tmp_path, book, extra)
    assert changed(again) == ["ok", "ok"], out
    assert again.records[0].msg == "demo-model@production is version 2"

    missing, out = run(tmp_path, book, {**extra, "v": 9})
    assert missing.exit_code == 1 and "demo-model" in missing.failures[0].msg
