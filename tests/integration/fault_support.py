"""Shared by the fault tests (issue 13): run the real ``inv`` CLI against a fixture repo,
and the checks that say a platform converged after a fault."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from reconcile_fixtures import REPO

INV = str(REPO / ".venv" / "bin" / "inv")


def inv_env(root: Path, state: Path, **extra: str) -> dict[str, str]:
    env = {**os.environ, "MLGITOPS_ROOT": str(root), "MLGITOPS_STATE_DIR": str(state),
           "MLGITOPS_ACTOR": "fault-test", "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    env.update(extra)
    return env


def inv_argv(*args: str) -> list[str]:
    return [INV, "--search-root", str(REPO), *args]


def inv(root: Path, state: Path, *args: str, timeout: float = 240,
        **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(inv_argv(*args), cwd=root, env=inv_env(root, state, **extra),
                          capture_output=True, text=True, timeout=timeout, check=False)


def git_clean(root: Path) -> str:
    """``git status --porcelain`` (empty: nothing edited, staged or left behind)."""
    return subprocess.run(["git", "-C", str(root), "status", "--porcelain"], check=True,
                          capture_output=True, text=True).stdout.strip()
