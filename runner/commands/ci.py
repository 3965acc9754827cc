"""``inv ci``: the pull-request workflow's steps, run here, in order, stopping at the first
failure with the step named. The steps are ``runner.render.workflows.PR_STEPS``, the same
list the workflow is rendered from, so the two cannot drift apart."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from runner.errors import PermanentError
from runner.render.workflows import PR_STEPS, VENV_TOOLS, Step
from runner.state import repo_root


def _argv(step: Step) -> list[str]:
    head, *rest = step.argv
    if head in VENV_TOOLS:  # this interpreter's venv, as the workflow's .venv/bin/
        local = Path(sys.executable).with_name(head)
        head = str(local) if local.exists() else head
    return [head, *rest]


def ci_command(skip: str = "", root: Path | None = None) -> int:
    """Run each pull-request step; 0 when all pass, else 1 naming the failed step."""
    root = (root or repo_root()).resolve()
    skipped = set(filter(None, skip.split(",")))
    unknown = skipped - {s.name for s in PR_STEPS}
    if unknown:
        raise PermanentError(f"no such step: {', '.join(sorted(unknown))} "
                             f"(steps: {', '.join(s.name for s in PR_STEPS)})")
    for step in PR_STEPS:
        if step.name in skipped:
            print(f"== {step.name}: skipped (--skip)", flush=True)
            continue
        print(f"== {step.name}: {' '.join(step.argv)}", flush=True)
        started = time.monotonic()
        code = subprocess.run(_argv(step), cwd=root, check=False,  # noqa: S603 - argv list
                              env={**os.environ, "MLGITOPS_ROOT": str(root)}).returncode
        took = time.monotonic() - started
        if code not in step.ok_codes:
            print(f"ci: step {step.name!r} failed (exit {code}, {took:.1f}s)", file=sys.stderr)
            return 1
        print(f"== {step.name}: ok ({took:.1f}s)", flush=True)
    print("ci: every pull-request step passed")
    return 0
