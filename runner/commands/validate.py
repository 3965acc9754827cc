"""``inv validate``: load every spec with the chosen overlay and say what was found."""

from __future__ import annotations

from pathlib import Path

from runner.locations import repo_root
from runner.spec.spec_loader import load_platform


def validate_command(env: str = "dev", root: Path | None = None) -> str:
    """Validate; print and return the summary line. Raises ``SpecError`` with every problem."""
    platform = load_platform(root or repo_root(), env)
    count = len(platform.services)
    line = f"ok: {count} service{'s' if count != 1 else ''}, environment {platform.environment}"
    print(line)
    return line
