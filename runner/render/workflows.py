"""The CI workflows (GitHub Actions), rendered from the specs into ``.github/workflows/``.

One source for the pull-request checks: ``PR_STEPS`` is what the pull-request workflow
runs and what ``inv ci`` runs locally, in the same order. The scheduled retrain of each
service fires at its spec's ``retrain.schedule``, so editing the schedule leaves the
workflow stale until ``inv render`` (``inv render --check`` covers this directory too).

Rendered from the base environment (``WORKFLOW_ENV``): the workflows belong to the
repository, not to one overlay, and must not change with ``--env``.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

from runner.render.artifacts import Rendered
from runner.render.template_env import render_template
from runner.spec.models import Platform

WORKFLOWS_DIR = ".github/workflows"
WORKFLOW_ENV = "dev"
DRIFT_CRON = "0 6 * * *"  # daily, 06:00 UTC: after the nightly traffic, before work hours
VENV_BIN = ".venv/bin/"


@dataclass(frozen=True)
class Step:
    """One pull-request check: ``argv`` run from the repository root."""

    name: str
    argv: tuple[str, ...]
    ok_codes: tuple[int, ...] = (0,)
    summary: bool = False  # its output goes to the job summary (the plan)

    @property
    def run(self) -> str:
        """The workflow's ``run:`` line (tools from the venv, as ``scripts/setup.sh`` makes)."""
        head, *rest = self.argv
        command = " ".join([VENV_BIN + head if head in VENV_TOOLS else head, *rest])
        if self.summary:
            codes = " || ".join(f"[ $code -eq {c} ]" for c in self.ok_codes)
            return (f"set +e; {command} | tee step.out; code=${{PIPESTATUS[0]}}; "
                    "{ echo '### inv plan'; echo '```'; cat step.out; echo '```'; } "
                    f'>> "$GITHUB_STEP_SUMMARY"; {codes}')
        if self.ok_codes != (0,):
            return f"{command} || " + " || ".join(f"[ $? -eq {c} ]" for c in self.ok_codes[1:])
        return command


VENV_TOOLS = frozenset({"inv", "ruff", "mypy", "pytest"})

PR_STEPS: tuple[Step, ...] = (
    Step("setup", ("bash", "scripts/setup.sh")),
    Step("validate", ("inv", "validate")),
    Step("render", ("inv", "render", "--check")),
    Step("lint", ("ruff", "check", "runner", "tests", "tasks.py", "bench", "projects")),
    Step("types", ("mypy",)),
    Step("tests", ("pytest", "-q")),
    # exit 2 = changes to apply: a plan, not a failure; posted as the job summary.
    Step("plan", ("inv", "plan"), ok_codes=(0, 2), summary=True),
)


@dataclass(frozen=True)
class Input:
    description: str
    type: str = "string"
    default: Any = None


@dataclass(frozen=True)
class Dispatch:
    name: str
    title: str
    about: str
    run: str
    inputs: tuple[tuple[str, Input], ...] = field(default=())
    push: bool = False  # the operation commits (a GitOps rollback): push it


DISPATCHES = (
    Dispatch("deploy", "Deploy ${{ inputs.service }}", "preflight, then a health-gated rollout.",
             '.venv/bin/inv deploy --service "$SERVICE" --reason "$REASON"'),
    Dispatch("rollback", "Roll ${{ inputs.service }} back",
             "pin an earlier revision in the spec, commit, switch.",
             '.venv/bin/inv rollback --service "$SERVICE" --reason "$REASON"'
             ' ${TO_REVISION:+--to-revision "$TO_REVISION"}',
             (("to_revision", Input("revision number (empty: the previous one)", default="")),),
             push=True),
    Dispatch("maintenance", "Maintenance of ${{ inputs.service }}",
             "the maintenance playbook for one service.",
             '.venv/bin/inv playbook maintenance -e service="$SERVICE" -e reason="$REASON"'
             ' -e task="$TASK"',
             (("task", Input("maintenance task (see playbooks/maintenance.yaml)",
                             default="")),)),
)


def render_workflows(platform: Platform) -> dict[str, str]:
    """Every workflow file, keyed by name under ``.github/workflows/``."""
    return render_workflow_parts(platform).files()


def render_workflow_parts(platform: Platform, skip: Collection[str] = ()) -> Rendered:
    """The workflows grouped like ``render_parts``: each service's retrain workflow is its
    own (skipped when named in ``skip``), the others list every service."""
    services = sorted(platform.services)
    base = {"header": "Generated from specs/ by `inv render`; do not edit.",
            "env": WORKFLOW_ENV, "services": services}
    fleet = {
        "pull-request.yml": render_template("github/pull-request.yml.j2",
                                            {**base, "steps": PR_STEPS}),
        "reconcile.yml": render_template("github/reconcile.yml.j2", base),
        "drift.yml": render_template("github/drift.yml.j2", {**base, "drift_cron": DRIFT_CRON}),
    }
    for op in DISPATCHES:
        fleet[f"{op.name}.yml"] = render_template("github/dispatch.yml.j2", {**base, "op": op})
    per_service = {
        name: {f"retrain-{name}.yml": render_template(
            "github/retrain.yml.j2", {**base, "svc": platform.services[name]})}
        for name in services if name not in skip
    }
    return Rendered(fleet, per_service)
