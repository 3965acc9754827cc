"""The pull loop's decision, without a platform: fetch from a local bare remote, refuse a
commit whose specs fail validation (checkout unmoved, event + notification recorded),
fast-forward to a good one; and the sync status read back from the audit log."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from runner.commands.git_sync import check_commit, sync_once
from runner.state import StateStore
from runner.state.sync_log import REFUSED, SYNCED, latest, record

REPO = Path(__file__).resolve().parents[2]


def git(root: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True,
                          text=True).stdout.strip()


@pytest.fixture
def repos(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    dev = tmp_path / "dev"
    shutil.copytree(REPO / "specs", dev / "specs")
    shutil.copytree(REPO / "projects", dev / "projects",
                    ignore=shutil.ignore_patterns("data", "models", "__pycache__"))
    git(tmp_path, "init", "-q", str(dev))
    git(dev, "config", "user.email", "t@example.invalid")
    git(dev, "config", "user.name", "t")
    git(dev, "add", ".")
    git(dev, "commit", "-qm", "initial")
    remote = tmp_path / "remote.git"
    git(tmp_path, "clone", "-q", "--bare", str(dev), str(remote))
    git(dev, "remote", "add", "origin", str(remote))
    checkout = tmp_path / "checkout"
    git(tmp_path, "clone", "-q", str(remote), str(checkout))
    state = tmp_path / "state"
    monkeypatch.setenv("MLGITOPS_STATE_DIR", str(state))
    monkeypatch.setenv("MLGITOPS_ROOT", str(checkout))
    monkeypatch.delenv("MLGITOPS_WEBHOOK_URL", raising=False)
    return {"dev": dev, "checkout": checkout, "state": state}


def _push(dev: Path, edit: str, new: str, message: str) -> str:
    spec = dev / "specs" / "services" / "bankchurn.yaml"
    spec.write_text(spec.read_text().replace(edit, new))
    git(dev, "commit", "-qam", message)
    git(dev, "push", "-q", "origin", "HEAD")
    return git(dev, "rev-parse", "HEAD")


def test_invalid_commit_is_refused_then_a_good_one_fast_forwards(repos: dict[str, Path]) -> None:
    checkout, dev = repos["checkout"], repos["dev"]
    start = git(checkout, "rev-parse", "HEAD")
    assert sync_once(checkout, "dev", None).startswith("at origin/")

    bad = _push(dev, "replicas: 1", "replicas: 0", "zero replicas")
    line = sync_once(checkout, "dev", None)
    assert line.startswith(f"refused {bad[:8]}") and "replicas" in line
    assert git(checkout, "rev-parse", "HEAD") == start  # the last good commit stays
    store = StateStore(repos["state"])
    status = latest(store, "dev")
    assert (status.status, status.refused_commit) == (REFUSED, bad)
    notes = [json.loads(n) for n in (repos["state"] / "notifications.jsonl").read_text()
             .splitlines()]
    assert notes[-1]["event"] == "sync.refused" and notes[-1]["commit"] == bad
    # Asked again, the same commit is not re-checked nor re-notified.
    assert "refused before" in sync_once(checkout, "dev", None)
    assert len((repos["state"] / "notifications.jsonl").read_text().splitlines()) == len(notes)

    good = _push(dev, "replicas: 0", "replicas: 2", "two replicas")
    assert sync_once(checkout, "dev", None) == f"fast-forwarded to {good[:8]} (origin/" + \
        git(checkout, "rev-parse", "--abbrev-ref", "HEAD") + ")"
    assert git(checkout, "rev-parse", "HEAD") == good
    store.close()


def test_check_commit_names_the_problem(repos: dict[str, Path]) -> None:
    dev = repos["dev"]
    assert check_commit(dev, git(dev, "rev-parse", "HEAD"), "dev") == ""
    bad = _push(dev, "port: 8001", "port: 80", "privileged port")
    assert "specs/services/bankchurn.yaml" in check_commit(dev, bad, "dev")


def test_sync_status_from_events(tmp_path: Path) -> None:
    store = StateStore(tmp_path)
    assert latest(store, "dev").status == "unknown"
    record(store, "dev", SYNCED, "aaa", actor="t")
    record(store, "dev", REFUSED, "bbb", actor="t", reason="bad spec")
    record(store, "prod", SYNCED, "ccc", actor="t")
    status = latest(store, "dev")
    assert (status.status, status.synced_commit, status.refused_commit, status.reason) == (
        REFUSED, "aaa", "bbb", "bad spec")
    record(store, "dev", SYNCED, "ddd", actor="t")  # a later good commit clears the refusal
    assert (latest(store, "dev").synced_commit, latest(store, "dev").refused_commit) == (
        "ddd", "")
    store.close()
