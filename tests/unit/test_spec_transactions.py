"""Spec edits of promote and rollback: atomic, undone when git fails, under the apply lock.

Issue 13 items 7 and 8, on a real git repository holding a copy of the specs (no replicas:
every case stops before anything would deploy).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from runner.errors import LockHeld, ToolkitError
from runner.operations import open_env, rollback
from runner.operations.specedit import edit_service_spec
from runner.state.lock import holder
from runner.state.state_store import SUCCESS, StateStore

ROOT = Path(__file__).resolve().parents[2]
SERVICE = "bankchurn"
# Holds the apply lock from another live process until its stdin closes.
HOLDER = ("import sys; from pathlib import Path; from runner.state import StateStore;"
          " from runner.state.lock import acquire;"
          " acquire(StateStore(Path(sys.argv[1])), actor='test'); print('held', flush=True);"
          " sys.stdin.read()")


def _git(root: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True,
                          check=True).stdout


@pytest.fixture()
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    root = tmp_path / "repo"
    shutil.copytree(ROOT / "specs", root / "specs")
    (root / "projects").symlink_to(ROOT / "projects")
    _git(root, "init", "-q")
    _git(root, "-c", "user.email=t@t", "-c", "user.name=t", "add", "specs")
    _git(root, "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "specs")
    monkeypatch.setenv("GIT_AUTHOR_NAME", "t")
    monkeypatch.setenv("GIT_AUTHOR_EMAIL", "t@t")
    monkeypatch.setenv("GIT_COMMITTER_NAME", "t")
    monkeypatch.setenv("GIT_COMMITTER_EMAIL", "t@t")
    monkeypatch.setenv("MLGITOPS_ROOT", str(root))
    monkeypatch.setenv("MLGITOPS_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'state' / 'none.db'}")
    yield root


@pytest.fixture()
def other_holder(tmp_path: Path) -> Iterator[None]:
    """Another live process holds the apply lock for the test."""
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(tmp_path / "state")],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
        yield
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        proc.wait(timeout=30)


def _outcome(version: int) -> dict[str, Any]:
    return {"candidate_version": version, "champion_version": 1, "passed": True,
            "candidate": {"roc_auc": 0.9}, "champion": {"roc_auc": 0.88},
            "summary": "candidate wins", "holdout_rows": 100, "data_version": "abc123",
            "data": "data/new.csv"}


def _promote(root: Path) -> dict[str, Any]:
    from runner.lifecycle.common import service_context
    from runner.lifecycle.promote import promote

    return promote(service_context(root, SERVICE), _outcome(7), actor="t", reason="test",
                   deploy=False)


def _spec(root: Path) -> Path:
    return root / "specs" / "services" / f"{SERVICE}.yaml"


def _dirty(root: Path) -> str:
    return _git(root, "status", "--porcelain", "--", "specs")


def test_promote_restores_the_spec_when_git_fails(repo: Path) -> None:
    before = _spec(repo).read_text()
    (repo / ".git" / "index.lock").write_text("")  # a stale lock: every git write fails
    with pytest.raises(ToolkitError, match="git add failed"):
        _promote(repo)
    assert _spec(repo).read_text() == before
    (repo / ".git" / "index.lock").unlink()
    assert _dirty(repo) == ""


def test_promote_commits_under_the_apply_lock(repo: Path) -> None:
    done = _promote(repo)
    assert (done["from_version"], done["to_version"]) == (1, 7)
    assert "version: 7" in _spec(repo).read_text() and _dirty(repo) == ""
    assert _git(repo, "log", "-1", "--format=%s").startswith(f"promote {SERVICE} to model v7")
    db = StateStore(repo.parent / "state")
    assert holder(db) is None  # released
    db.close()


def test_promote_waits_for_nobody_while_another_apply_runs(repo: Path,
                                                            other_holder: None) -> None:
    before = _spec(repo).read_text()
    with pytest.raises(LockHeld, match="another apply holds the lock"):
        _promote(repo)
    assert _spec(repo).read_text() == before and _dirty(repo) == ""


def test_rollback_restores_the_spec_when_git_fails_and_deploys_nothing(repo: Path) -> None:
    env = open_env(repo, quiet=True)
    env.store.add_revision(SERVICE, spec_hash="old", model_name="bankchurn-model",
                           model_version=3, actor="t", reason="earlier", outcome=SUCCESS)
    before = _spec(repo).read_text()
    (repo / ".git" / "index.lock").write_text("")
    with pytest.raises(ToolkitError, match="git add failed"):
        rollback(env, SERVICE, reason="test")
    assert _spec(repo).read_text() == before
    assert env.platform.service(SERVICE).model.version == 1  # reloaded from the restored file
    assert [r.reason for r in env.store.revisions(SERVICE)] == ["earlier"]  # nothing deployed
    assert env.runtime.facts([SERVICE]).get(SERVICE, []) == []
    (repo / ".git" / "index.lock").unlink()
    assert _dirty(repo) == ""
    env.store.close()


def test_rollback_refuses_while_another_apply_runs(repo: Path, other_holder: None) -> None:
    from runner.operations.module_env import ENV
    from runner.operations.service_modules import RollbackArgs, RollbackModule
    from runner.playbook.modules import ModuleContext

    env = open_env(repo, quiet=True)
    env.store.add_revision(SERVICE, spec_hash="old", model_name="bankchurn-model",
                           model_version=3, actor="t", reason="earlier", outcome=SUCCESS)
    ctx = ModuleContext(check_mode=False, diff_mode=False, variables={}, templar=None,
                        playbook_dir=repo, root=repo, state_dir=env.state, task_name="t",
                        resources={ENV: env})
    with pytest.raises(LockHeld):
        RollbackModule().run(RollbackArgs(service=SERVICE), ctx)
    assert "version: 1" in _spec(repo).read_text()
    env.store.close()


def test_spec_edit_is_one_rename(tmp_path: Path) -> None:
    path = tmp_path / "svc.yaml"
    path.write_text("name: x\nmodel:\n  name: m\n  version: 1  # pinned\n")
    path.chmod(0o640)
    inode = path.stat().st_ino
    assert edit_service_spec(path, version=2, image=None)
    assert path.read_text() == "name: x\nmodel:\n  name: m\n  version: 2  # pinned\n"
    assert path.stat().st_ino != inode  # a new file renamed over the old one
    assert path.stat().st_mode & 0o777 == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["svc.yaml"]  # no temporary left


def test_alert_procedure_runs_under_the_apply_lock(repo: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from runner.commands import alert_procedure as procedure
    from runner.monitor import audit_access as store

    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    check = ("import os, sys; from pathlib import Path; from runner.state import StateStore;"
             " from runner.state.lock import holder;"
             " h = holder(StateStore(Path(sys.argv[1]))); sys.exit(0 if h and h.pid == os.getppid()"
             " else 3)")
    (repo / "playbooks").mkdir()
    (repo / "playbooks" / "probe.yaml").write_text(
        "- tasks:\n    - command: {argv: " + repr([sys.executable, "-c", check,
                                                   str(repo.parent / "state")]) + "}\n")
    assert procedure.main(["probe", "-e", f"service={SERVICE}"]) == 0
    (finished,) = store.events(store.PROCEDURE_FINISHED, state=repo.parent / "state")
    assert finished["outcome"] == "success", finished["detail"]["summary"]


def test_alert_procedure_waits_for_the_lock_then_gives_up(
        repo: Path, monkeypatch: pytest.MonkeyPatch, other_holder: None) -> None:
    from runner.commands import alert_procedure as procedure
    from runner.monitor import audit_access as store

    monkeypatch.setattr(procedure, "LOCK_WAIT_S", 1.5)
    marker = repo / "ran"
    (repo / "playbooks").mkdir()
    (repo / "playbooks" / "probe.yaml").write_text(
        f"- tasks:\n    - copy: {{content: x, dest: '{marker}'}}\n")
    assert procedure.main(["probe", "-e", f"service={SERVICE}"]) == 1
    (finished,) = store.events(store.PROCEDURE_FINISHED, state=repo.parent / "state")
    assert "another apply holds the lock" in finished["detail"]["summary"]
    assert not marker.exists()
