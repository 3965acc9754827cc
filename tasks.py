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


# ----------------------------------------------------------------- render (issue 2, part 5-6)


@task(
    help={
        "env": "environment overlay (dev, staging, prod)",
        "check": "write nothing; exit 1 with a diff when generated/ is stale",
    }
)
def render(c: Context, env: str = "dev", check: bool = False) -> None:
    """Render generated/<env>/ (compose, Prometheus, Alertmanager, Grafana, k8s) from specs."""
    from runner.cli import exit_with, run
    from runner.render.command import render_command

    exit_with(run(render_command, env=env, check_only=check))


# ----------------------------------------------------------------- monitoring (issue 6)


@task(help={"json": "print JSON instead of a table", "env": "environment overlay",
            "url": "Alertmanager URL (default: the platform spec's)"})
def alerts(c: Context, json: bool = False, env: str = "dev", url: str = "") -> None:
    """The alerts firing now (from Alertmanager), with service and runbook section."""
    from runner.cli import run
    from runner.monitor.firing import alerts_command

    run(alerts_command, env=env, as_json=json, url=url or None)
