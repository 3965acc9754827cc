"""``inv validate``: load every spec with the chosen overlay and say what was found."""

from __future__ import annotations

from pathlib import Path

from runner.gc_pause import gc_paused
from runner.locations import cache_dir, repo_root
from runner.spec.spec_loader import load_platform


def validate_command(env: str = "dev", root: Path | None = None) -> str:
    """Validate; print and return the summary line. Raises ``SpecError`` with every problem."""
    root = root or repo_root()
    # The spec cache render keeps (parsed files by content, cron verdicts): 1,000 unchanged
    # specs are not parsed again. Validation itself runs on every spec each time. The GC
    # stays paused until the loaded specs are dropped (see runner.gc_pause).
    with gc_paused():
        platform = load_platform(root, env, cache_dir=cache_dir(root))
        count, environment = len(platform.services), platform.environment
        del platform
    line = f"ok: {count} service{'s' if count != 1 else ''}, environment {environment}"
    print(line)
    return line
