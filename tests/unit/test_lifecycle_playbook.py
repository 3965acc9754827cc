"""playbooks/retrain.yaml loads with the lifecycle modules and changes nothing in check mode."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from runner.playbook import run_playbook
from runner.playbook_catalog import toolkit_modules

REPO = Path(__file__).resolve().parents[2]


def test_retrain_check_mode_touches_nothing(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLGITOPS_STATE_DIR", str(tmp_path / "state"))
    spec = REPO / "specs" / "services" / "bankchurn.yaml"
    before = spec.read_text()
    result = run_playbook(REPO / "playbooks" / "retrain.yaml", {"service": "bankchurn"},
                          check=True, root=REPO, state_dir=tmp_path / "state", output=None,
                          modules=toolkit_modules())
    assert result.ok, [r.msg for r in result.failures]
    by_name = {r.name: r for r in result.records}
    assert by_name["Pull and validate the training data"].msg.startswith(
        "check mode: would validate")
    assert by_name["Promote through the spec and deploy"].status == "skipped"
    assert spec.read_text() == before
    assert not (tmp_path / "state" / "lifecycle" / "bankchurn" / "runs").exists()


def test_unknown_service_fails_in_the_first_task(tmp_path: Path) -> None:
    result = run_playbook(REPO / "playbooks" / "retrain.yaml", {"service": "nope"},
                          root=REPO, state_dir=tmp_path / "state", output=None,
                          modules=toolkit_modules())
    assert not result.ok
    assert "nope is not in the specs" in result.failures[0].msg
    assert len(result.records) == 1


def test_cli_lists_the_lifecycle_tasks() -> None:
    out = subprocess.run([str(REPO / ".venv" / "bin" / "inv"), "--list"], cwd=REPO,
                         capture_output=True, text=True, check=True, timeout=60).stdout
    for name in ("drift", "retrain", "evaluate", "data-validate", "data-rollback",
                 "simulate-drift"):
        assert f"  {name} " in out, out
