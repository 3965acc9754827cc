"""``inv validate``: load every spec with the chosen overlay and say what was found."""

from __future__ import annotations

import os
from pathlib import Path

from runner.spec.loader import load_platform


def repo_root() -> Path:
    """``MLGITOPS_ROOT`` if set, else the nearest directory above the working directory
    holding ``tasks.py`` and ``specs/`` (as invoke finds tasks.py), else this checkout."""
    env = os.environ.get("MLGITOPS_ROOT")
    if env:
        return Path(env).resolve()
    here = Path.cwd().resolve()
    for candidate in (here, *here.parents):
        if (candidate / "tasks.py").is_file() and (candidate / "specs").is_dir():
            return candidate
    return Path(__file__).resolve().parents[2]


def validate_command(env: str = "dev", root: Path | None = None) -> str:
    """Validate; print and return the summary line. Raises ``SpecError`` with every problem."""
    platform = load_platform(root or repo_root(), env)
    count = len(platform.services)
    line = f"ok: {count} service{'s' if count != 1 else ''}, environment {platform.environment}"
    print(line)
    return line
