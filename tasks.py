"""The command surface: `inv <task>`. Each task parses flags and calls one runner function.

Imports of the runner happen inside the tasks so `inv --list` and `inv validate` start fast.
Sections are owned by area; keep each task to a few lines.
"""

from __future__ import annotations

from invoke import Context, task

# ----------------------------------------------------------------- specs and render


@task(help={"env": "environment overlay (dev, staging, prod)"})
def validate(c: Context, env: str = "dev") -> None:
    """Validate every spec; print one line per problem (file:line:col field: message)."""
    from runner.cli import run
    from runner.spec.validate import validate_command

    run(validate_command, env=env)
