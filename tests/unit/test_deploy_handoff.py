"""The deploy operation executes the action it is handed (the plan's) and decides only
without one: the plan is made once (issue 9, item 1)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from runner.errors import PermanentError
from runner.operations import Action, decide, deploy, open_env

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture()
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    root = tmp_path / "repo"
    shutil.copytree(ROOT / "specs", root / "specs")
    (root / "projects").symlink_to(ROOT / "projects")
    monkeypatch.setenv("MLGITOPS_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'none.db'}")
    opened = open_env(root, quiet=True)
    yield opened
    opened.store.close()


def test_deploy_executes_the_handed_action_not_a_new_decision(env) -> None:  # type: ignore[no-untyped-def]
    spec = env.replica_spec("bankchurn")
    assert decide(env, "bankchurn").kind == "create"  # nothing runs here
    planned = Action("bankchurn", "restart", "replica r1 (pid 7) is unhealthy",
                     after={"model_version": spec.model_version, "spec_hash": spec.spec_hash})
    out = deploy(env, "bankchurn", action=planned, check_mode=True)
    assert out.msg == "would restart: replica r1 (pid 7) is unhealthy"
    assert deploy(env, "bankchurn", check_mode=True).msg.startswith("would create: not running")


def test_an_action_planned_for_another_spec_is_refused(env) -> None:  # type: ignore[no-untyped-def]
    stale = Action("bankchurn", "replace", "model version 1 -> 9",
                   after={"model_version": 9, "spec_hash": "0" * 16})
    with pytest.raises(PermanentError, match="planned action is for another spec"):
        deploy(env, "bankchurn", action=stale, check_mode=True)


def test_the_facts_behind_an_action_are_not_plan_output(env) -> None:  # type: ignore[no-untyped-def]
    action = decide(env, "bankchurn")
    assert "observed" not in action.as_dict()
    assert action.as_dict()["kind"] == "create"


def test_the_service_module_uses_the_planned_action_once_per_run(env) -> None:  # type: ignore[no-untyped-def]
    from runner.operations.module_env import ENV
    from runner.operations.service_modules import PLANNED, ServiceArgs, ServiceModule
    from runner.playbook.modules import ModuleContext

    spec = env.replica_spec("bankchurn")
    planned = Action("bankchurn", "restart", "replica r1 (pid 7) is unhealthy",
                     after={"model_version": spec.model_version, "spec_hash": spec.spec_hash})
    ctx = ModuleContext(check_mode=True, diff_mode=False, variables={}, templar=None,
                        playbook_dir=env.root, root=env.root, state_dir=env.state,
                        task_name="t", resources={ENV: env, PLANNED: {"bankchurn": planned}})
    module, args = ServiceModule(), ServiceArgs(name="bankchurn")
    assert module.run(args, ctx).msg == "would restart: replica r1 (pid 7) is unhealthy"
    assert module.run(args, ctx).msg.startswith("would create: not running")  # decided anew
