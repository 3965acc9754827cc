"""``inv emergency data-corruption`` with real DVC and the project's real schema
(issue 11 item 4): damaged data is replaced by the pinned version from the DVC cache and
comes back byte-identical; without a good version retraining stays on hold."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from reconcile_fixtures import REPO, free_port, git, make_repo

from runner.emergency import emergency_command
from runner.lifecycle.data_hold import held
from runner.lifecycle.retrain import retrain

pytestmark = [pytest.mark.integration]
DATA = Path("projects/bankchurn/data/raw/Churn.csv")


@pytest.fixture()
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    root = make_repo(tmp_path, port=free_port())
    monkeypatch.setenv("MLGITOPS_ROOT", str(root))
    monkeypatch.setenv("MLGITOPS_STATE_DIR", str(tmp_path / "state"))
    bindir = REPO / ".venv" / "bin"
    subprocess.run([str(bindir / "python"), "generate.py", "--rows", "300", "--seed", "1",
                    "--shift", "0", "--out", "data/raw/Churn.csv"],
                   cwd=root / "projects" / "bankchurn", check=True, capture_output=True)
    subprocess.run([str(bindir / "dvc"), "init", "-q"], cwd=root, check=True)
    subprocess.run([str(bindir / "dvc"), "commit", "-f", "-q",
                    "projects/bankchurn/dvc.yaml:generate"], cwd=root, check=True)
    git(root, "add", ".dvc", "projects/bankchurn/dvc.lock")
    git(root, "commit", "-q", "-m", "data v1")
    yield root


def _corrupt(path: Path) -> None:
    lines = path.read_text().splitlines()
    lines[5] = ",".join(["oops"] * len(lines[5].split(",")))
    path.write_text("\n".join(lines) + "\n")


def test_corrupt_data_is_restored_identical_from_the_dvc_cache(repo: Path, capsys) -> None:
    good = hashlib.sha256((repo / DATA).read_bytes()).hexdigest()
    _corrupt(repo / DATA)
    assert emergency_command("data-corruption", "bankchurn") == 0
    out = capsys.readouterr().out
    assert "FAILED validate" in out and "CreditScore" in out  # the bad column is named
    assert "restored: bankchurn: data restored from HEAD (300 valid rows)" in out
    assert hashlib.sha256((repo / DATA).read_bytes()).hexdigest() == good
    state = Path(os.environ["MLGITOPS_STATE_DIR"])
    assert held(state, "bankchurn") is None  # lifted once the data validated
    (report,) = (state / "reports").glob("emergency-data-corruption-bankchurn-*.json")
    assert json.loads(report.read_text())["outcome"] == "restored"
    assert emergency_command("data-corruption", "bankchurn") == 0  # valid: nothing to do
    assert "current data valid, nothing restored" in capsys.readouterr().out


def test_without_a_good_version_retraining_stays_on_hold(repo: Path, capsys) -> None:
    for entry in (repo / ".dvc" / "cache").rglob("*"):
        if entry.is_file():
            entry.unlink()  # the pinned version is gone from the cache too
    _corrupt(repo / DATA)
    lock = (repo / "projects" / "bankchurn" / "dvc.lock").read_text()
    assert emergency_command("data-corruption", "bankchurn") == 1
    assert "no valid data version found; retraining stays on hold" in capsys.readouterr().out
    state = Path(os.environ["MLGITOPS_STATE_DIR"])
    assert held(state, "bankchurn")
    assert (repo / "projects" / "bankchurn" / "dvc.lock").read_text() == lock  # pins kept
    out = retrain(repo, "bankchurn", quiet=True)
    assert not out["ok"] and "retraining bankchurn is on hold" in out["error"]
