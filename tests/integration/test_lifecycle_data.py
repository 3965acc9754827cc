"""`inv data-validate` and `inv data-rollback` against real git and DVC in a temp repo:
two data versions tracked by a .dvc file, the older one restored, validated, committed."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from reconcile_fixtures import _drop_service  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
INV = str(REPO / ".venv" / "bin" / "inv")
DVC = str(REPO / ".venv" / "bin" / "dvc")
PY = str(REPO / ".venv" / "bin" / "python")

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _run(root: Path, *argv: str, env: dict[str, str] | None = None) -> str:
    proc = subprocess.run(list(argv), cwd=root, env=env, capture_output=True, text=True,
                          timeout=180, check=False)
    assert proc.returncode == 0, (argv, proc.stdout[-1500:], proc.stderr[-1500:])
    return proc.stdout + proc.stderr


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes(), usedforsecurity=False).hexdigest()


def test_data_rollback_restores_validates_and_commits(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    shutil.copytree(REPO / "specs", root / "specs")
    project = root / "projects" / "bankchurn"
    shutil.copytree(REPO / "projects" / "bankchurn", project,
                    ignore=shutil.ignore_patterns("data", "models", "__pycache__", "dvc.*"))
    for other in ("carvision", "telecom"):  # their projects are not copied
        (root / "specs" / "services" / f"{other}.yaml").unlink()
        for overlay in (root / "specs" / "environments").glob("*.yaml"):
            _drop_service(overlay, other)
    env = {**os.environ, "MLGITOPS_ROOT": str(root), "MLGITOPS_STATE_DIR": str(tmp_path / "st"),
           "PYTHONPATH": str(REPO), "MLGITOPS_ACTOR": "data-test"}
    raw = project / "data" / "raw" / "Churn.csv"
    raw.parent.mkdir(parents=True)
    _run(root, "git", "init", "-q")
    _run(root, "git", "config", "user.email", "t@example.invalid")
    _run(root, "git", "config", "user.name", "t")
    _run(root, DVC, "init", "-q")
    versions = []
    for seed in (1, 2):
        _run(project, PY, "generate.py", "--rows", "500", "--seed", str(seed), "--out", str(raw))
        _run(root, DVC, "add", "-q", str(raw.relative_to(root)))
        _run(root, "git", "add", "-A")
        _run(root, "git", "commit", "-q", "-m", f"data seed {seed}")
        versions.append(_md5(raw))
    assert versions[0] != versions[1]
    inv = [INV, "--search-root", str(REPO)]

    out = _run(root, *inv, "data-validate", "--service", "bankchurn", env=env)
    assert "500 rows" in out and versions[1] in out

    out = _run(root, *inv, "data-rollback", "--service", "bankchurn", "--to", "HEAD~1", env=env)
    assert _md5(raw) == versions[0]
    assert versions[0] in out and "committed" in out
    log = _run(root, "git", "log", "-1", "--format=%s")
    assert log.startswith("data rollback bankchurn to HEAD~1")
    assert _run(root, "git", "status", "--porcelain", "projects").strip() == ""

    # Corrupt data is refused by the integrity check, with the column named.
    text = raw.read_text().splitlines()
    header = text[0].split(",")
    row = text[1].split(",")
    row[header.index("Geography")] = "Atlantis"
    raw.write_text("\n".join([text[0], ",".join(row), *text[2:]]) + "\n")
    proc = subprocess.run([*inv, "data-validate", "--service", "bankchurn"], cwd=root, env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 1 and "Geography" in proc.stderr and "Atlantis" in proc.stderr
