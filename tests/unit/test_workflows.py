"""CI workflows rendered from the specs: valid GitHub Actions, following the specs, and
the pull-request steps shared with `inv ci`."""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import pytest
import yaml

from runner.render.render_command import check_generated, render_command
from runner.render.workflows import PR_STEPS, WORKFLOWS_DIR, render_workflows
from runner.spec import load_platform

ROOT = Path(__file__).resolve().parents[2]


def _load(text: str) -> dict:
    """A workflow as GitHub reads it (YAML 1.2): PyYAML's YAML 1.1 reads the key ``on`` as
    the boolean true, so it is put back."""
    data = yaml.safe_load(text)
    if True in data:
        data["on"] = data.pop(True)
    return data


def _workflow_schema() -> dict:
    """The GitHub workflow schema vendored by check-jsonschema (read, never fetched)."""
    spec = importlib.util.find_spec("check_jsonschema")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("check-jsonschema is not installed (dev dependency)")
    path = Path(next(iter(spec.submodule_search_locations)))
    return json.loads((path / "builtin_schemas" / "vendor" / "github-workflows.json").read_text())


def test_every_rendered_workflow_matches_the_github_schema() -> None:
    from jsonschema import Draft7Validator

    validator = Draft7Validator(_workflow_schema())
    files = render_workflows(load_platform(ROOT, "dev"))
    assert {"pull-request.yml", "reconcile.yml", "drift.yml", "deploy.yml", "rollback.yml",
            "maintenance.yml", "retrain-bankchurn.yml"} <= set(files)
    for name, text in files.items():
        errors = [f"{'/'.join(map(str, e.path))}: {e.message}"
                  for e in validator.iter_errors(_load(text))]
        assert not errors, f"{name}: {errors}"


def test_committed_workflows_are_the_rendered_ones() -> None:
    files = render_workflows(load_platform(ROOT, "dev"))
    on_disk = {p.name: p.read_text() for p in (ROOT / WORKFLOWS_DIR).glob("*.yml")}
    assert on_disk == files


def test_pull_request_workflow_runs_the_ci_steps_in_order() -> None:
    workflow = _load(render_workflows(load_platform(ROOT, "dev"))["pull-request.yml"])
    steps = [s["name"] for s in workflow["jobs"]["checks"]["steps"] if "name" in s]
    assert steps == [s.name for s in PR_STEPS]
    assert [s.name for s in PR_STEPS][:3] == ["setup", "validate", "render"]


def test_dispatch_and_schedules_follow_the_specs() -> None:
    platform = load_platform(ROOT, "dev")
    files = render_workflows(platform)
    for name, svc in platform.services.items():
        retrain = _load(files[f"retrain-{name}.yml"])
        assert retrain["on"]["schedule"] == [{"cron": svc.retrain.schedule}]
    rollback = _load(files["rollback.yml"])["on"]["workflow_dispatch"]["inputs"]
    assert rollback["service"]["options"] == sorted(platform.services)
    assert {"reason", "to_revision"} <= set(rollback)


def test_changing_retrain_schedule_makes_render_check_fail_until_rendered(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "repo"
    for name in ("specs", "generated", ".github"):
        shutil.copytree(ROOT / name, root / name)
    (root / "projects").symlink_to(ROOT / "projects")
    assert render_command(check_only=True, root=root) == 0
    spec = root / "specs" / "services" / "bankchurn.yaml"
    spec.write_text(spec.read_text().replace('schedule: "0 3 1 * *"', 'schedule: "30 4 * * 1"'))
    assert render_command(check_only=True, root=root) == 1
    assert check_generated(root, "dev").changed == [f"{WORKFLOWS_DIR}/retrain-bankchurn.yml"]
    assert "30 4 * * 1" in capsys.readouterr().out  # the diff shows the new cron
    assert render_command(root=root) == 0
    assert render_command(check_only=True, root=root) == 0
    assert "30 4 * * 1" in (root / WORKFLOWS_DIR / "retrain-bankchurn.yml").read_text()


def test_render_rewrites_only_the_workflow_whose_service_changed_and_repairs_hand_edits(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "repo"
    for name in ("specs", "generated", ".github"):
        shutil.copytree(ROOT / name, root / name)
    (root / "projects").symlink_to(ROOT / "projects")
    monkeypatch.setenv("MLGITOPS_STATE_DIR", str(tmp_path / "state"))  # the render caches
    workflows = root / WORKFLOWS_DIR
    assert render_command(root=root) == 0  # records what it wrote

    def inodes() -> dict[str, int]:
        return {p.name: p.stat().st_ino for p in workflows.glob("*.yml")}

    before = inodes()
    spec = root / "specs" / "services" / "bankchurn.yaml"
    spec.write_text(spec.read_text().replace('schedule: "0 3 1 * *"', 'schedule: "30 4 * * 1"'))
    assert render_command(root=root) == 0
    after = inodes()
    assert sorted(n for n in after if after[n] != before[n]) == ["retrain-bankchurn.yml"]
    assert "30 4 * * 1" in (workflows / "retrain-bankchurn.yml").read_text()

    edited = workflows / "retrain-telecom.yml"  # a hand edit is not trusted as rendered
    rendered = edited.read_text()
    edited.write_text(rendered.replace("cron:", "cron:  ", 1))
    assert render_command(root=root) == 0
    assert edited.read_text() == rendered
    assert render_command(check_only=True, root=root) == 0
