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
    from runner.commands.validate import validate_command

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
    from runner.render.render_command import render_command

    exit_with(run(render_command, env=env, check_only=check))


# ----------------------------------------------------------------- monitoring (issue 6)


@task(help={"json": "print JSON instead of a table", "env": "environment overlay",
            "url": "Alertmanager URL (default: the platform spec's)"})
def alerts(c: Context, json: bool = False, env: str = "dev", url: str = "") -> None:
    """The alerts firing now (from Alertmanager), with service and runbook section."""
    from runner.cli import run
    from runner.monitor.firing import alerts_command

    run(alerts_command, env=env, as_json=json, url=url or None)


# ----------------------------------------------------------------- reconcile and runbook (issue 4)


@task(help={"env": "environment overlay", "service": "only this service (its model, its deploy)"})
def up(c: Context, env: str = "dev", service: str = "") -> None:
    """The main job: models if missing, render, MLflow, the services, monitoring, status."""
    from runner.cli import exit_with, run
    from runner.commands.platform_up import up_command

    exit_with(run(up_command, env_name=env, service=service))


@task(help={"env": "environment overlay",
            "service": "only this service's replicas (the next reconcile starts it again)"})
def down(c: Context, env: str = "dev", service: str = "") -> None:
    """Stop every replica and platform process started by `inv up`."""
    from runner.cli import exit_with, run
    from runner.commands.platform_up import down_command

    exit_with(run(down_command, env_name=env, service=service))


@task(help={"json": "print the plan as JSON", "env": "environment overlay"})
def plan(c: Context, json: bool = False, env: str = "dev") -> None:
    """Desired (specs) vs actual: exit 0 in sync, 2 with changes, 1 on error."""
    from runner.cli import exit_with, run
    from runner.commands.converge import plan_command

    exit_with(run(plan_command, env_name=env, as_json=json))


@task(help={"watch": "keep converging every SECONDS (self-heal)", "json": "JSON output",
            "env": "environment overlay",
            "force": "change even inside a freeze window (needs --reason; audited)",
            "reason": "why a freeze window is overridden (audit log)",
            "git": "pull: fetch the branch, fast-forward to each good new commit (issue 12)",
            "branch": "with --git: the branch to follow (default: the checked-out one)"})
def reconcile(c: Context, watch: float = 0.0, json: bool = False, env: str = "dev",
              force: bool = False, reason: str = "", git: bool = False,
              branch: str = "") -> None:
    """Converge actual state to the specs through the playbooks (idempotent)."""
    from runner.cli import exit_with, run

    if git:
        from runner.commands.git_sync import git_watch_command

        exit_with(run(git_watch_command, env_name=env, watch=watch, branch=branch,
                      as_json=json))
        return
    from runner.commands.converge import reconcile_command

    exit_with(run(reconcile_command, env_name=env, as_json=json, watch=watch, force=force,
                  reason=reason))


@task(help={"service": "service name", "reason": "why (audit log)", "env": "environment overlay",
            "force": "deploy even inside a freeze window (needs --reason; audited)"})
def deploy(c: Context, service: str, reason: str = "", env: str = "dev",
           force: bool = False) -> None:
    """Deploy one service to its spec (health-gated, automatic rollback on failure)."""
    from runner.cli import exit_with, run
    from runner.commands.converge import deploy_command

    exit_with(run(deploy_command, service=service, env_name=env, reason=reason, force=force))


@task(help={"service": "service name", "to_revision": "revision number (default: previous)",
            "reason": "why (commit message and audit log)",
            "no_commit": "edit the spec but do not commit (emergencies; audited)",
            "env": "environment overlay"})
def rollback(c: Context, service: str, to_revision: int = 0, reason: str = "",
             no_commit: bool = False, env: str = "dev") -> None:
    """GitOps rollback: pin the previous model version in the spec, commit, switch."""
    from runner.cli import exit_with, run
    from runner.commands.converge import rollback_command

    exit_with(run(rollback_command, service=service, env_name=env,
                  to_revision=to_revision or None, reason=reason, commit=not no_commit))


@task(help={"json": "print JSON", "env": "environment overlay",
            "watch": "refresh in place every SECONDS until Ctrl-C"})
def status(c: Context, json: bool = False, env: str = "dev", watch: float = 0.0) -> None:
    """Services (desired vs running, revision, health, standby), platform, last synced commit."""
    from runner.cli import exit_with, run
    from runner.commands.status import status_command

    exit_with(run(status_command, env_name=env, as_json=json, watch=watch))


@task(help={"json": "print JSON", "env": "environment overlay"})
def health(c: Context, json: bool = False, env: str = "dev") -> None:
    """Every endpoint of the runbook quick reference; exit 1 if a required one fails."""
    from runner.cli import exit_with, run
    from runner.commands.platform_up import health_command

    exit_with(run(health_command, env_name=env, as_json=json))


@task(help={"service": "service name", "json": "print JSON", "env": "environment overlay",
            "at": "ISO time or epoch: the model version in production then, and why (issue 5)"})
def history(c: Context, service: str, json: bool = False, env: str = "dev", at: str = "") -> None:
    """Revisions and audit log of one service."""
    from runner.cli import exit_with, run
    from runner.commands.status import history_command

    if at:
        from runner.lifecycle.history import history_at_command

        exit_with(run(history_at_command, service=service, at=at, as_json=json))
        return
    exit_with(run(history_command, service=service, env_name=env, as_json=json))


# ------------------------------------------------------------- playbook engine (issue 4, part 5)


@task(
    iterable=["extra_vars"],
    help={
        "name": "playbook name: playbooks/NAME.yaml (or a path to a .yaml file)",
        "extra_vars": "k=v or a JSON object; repeat -e for more",
        "check": "plan only: modules compute what they would change and change nothing",
        "diff": "show what changes (unified diffs)",
        "tags": "run only tasks with these tags (comma-separated) or tagged 'always'",
    },
)
def playbook(c: Context, name: str, extra_vars: list[str] | None = None, check: bool = False,
             diff: bool = False, tags: str = "") -> None:
    """Run a runbook playbook: a line per task, a recap, an event log under .state/runs/."""
    from runner.cli import exit_with, run
    from runner.commands.runbook import playbook_command

    exit_with(run(playbook_command, name, extra_vars or [], check=check, diff=diff,
                  tags=tags or None))


# ----------------------------------------------------------------- data and training (issue 3)


@task(help={"service": "one project (bankchurn, carvision, telecom); default all"})
def train(c: Context, service: str = "") -> None:
    """`dvc repro` each project's pipeline; register its model in MLflow if it is missing."""
    from runner.cli import run
    from runner.ml.pipeline import train_command

    run(train_command, service=service or None)


# ----------------------------------------------------------------- ML lifecycle (issue 5)


@task(help={"service": "service name", "current": "CSV of current data (default: the "
            "service's logged prediction inputs)", "reference": "CSV (default: its training data)",
            "html": "write the Evidently HTML report (--no-html: decision only)",
            "json": "print the JSON summary", "env": "environment overlay"})
def drift(c: Context, service: str, current: str = "", reference: str = "", html: bool = True,
          json: bool = False, env: str = "dev") -> None:
    """Data drift vs the training data: exit 0 below the critical share, 3 above, 4 inconclusive."""
    from runner.cli import exit_with, run
    from runner.lifecycle.drift import drift_command

    exit_with(run(drift_command, service, current=current, reference=reference, env=env,
                  html=html, as_json=json))


@task(help={"service": "service name", "data": "labelled CSV to train on (default: DVC data)",
            "promote": "promote a winner: spec commit + deploy (--no-promote: register only)",
            "reason": "why (commit message and audit log)", "json": "print JSON",
            "env": "environment overlay",
            "force": "promote even inside a freeze window (needs --reason; audited)"})
def retrain(c: Context, service: str, data: str = "", promote: bool = True, reason: str = "",
            json: bool = False, env: str = "dev", force: bool = False) -> None:
    """Retrain, gate the candidate against the champion, promote a winner (exit 4: rejected)."""
    from runner.cli import exit_with, run
    from runner.lifecycle.retrain import retrain_command

    exit_with(run(retrain_command, service, data=data, promote=promote, reason=reason, env=env,
                  as_json=json, force=force))


@task(help={"service": "service name", "data": "recent labelled CSV",
            "retrain": "start the retrain on that data when the metric dropped",
            "env": "environment overlay"})
def evaluate(c: Context, service: str, data: str, retrain: bool = False, env: str = "dev") -> None:
    """Serving model on recent labelled data vs its registered metrics: exit 3 on a drop."""
    from runner.cli import exit_with, run
    from runner.lifecycle.triggers import evaluate_command

    exit_with(run(evaluate_command, service, data, retrain=retrain, env=env))


@task(name="data-validate", help={"service": "service name", "data": "CSV (default: DVC data)",
                                  "env": "environment overlay"})
def data_validate(c: Context, service: str, data: str = "", env: str = "dev") -> None:
    """The runbook's data-integrity check: schema, ranges, nulls (every bad column named)."""
    from runner.cli import exit_with, run
    from runner.lifecycle.data_versions import validate_command

    exit_with(run(validate_command, service, data=data, env=env))


@task(name="data-rollback", help={"service": "service name", "to": "git revision of the data",
                                  "retrain": "retrain on the restored data",
                                  "env": "environment overlay"})
def data_rollback(c: Context, service: str, to: str, retrain: bool = False,
                  env: str = "dev") -> None:
    """Restore an earlier DVC data version (git + dvc checkout), validate, commit the locks."""
    from runner.cli import exit_with, run
    from runner.lifecycle.data_versions import rollback_command

    exit_with(run(rollback_command, service, to, retrain=retrain, env=env))


@task(name="simulate-drift", help={"service": "service name", "requests": "rows to send (max "
                                   "20000)", "shift": "generator --shift (1 = strong)",
                                   "seed": "generator seed", "env": "environment overlay"})
def simulate_drift(c: Context, service: str, requests: int = 500, shift: float = 1.0,
                   seed: int = 1234, env: str = "dev") -> None:
    """Send shifted traffic from the project's generator to the running service (bounded)."""
    from runner.cli import exit_with, run
    from runner.lifecycle.simulate import simulate_command

    exit_with(run(simulate_command, service, requests=requests, shift=shift, seed=seed,
                  env=env))


# ----------------------------------------------------------------- maintenance (issue 11)


@task(help={"env": "environment overlay", "check": "change nothing; list what clean-up "
            "would delete (runs outside a window too)",
            "force": "run outside a maintenance window (needs --reason; audited)",
            "reason": "why it runs outside a window (audit log)",
            "skip": "steps to leave out, comma-separated: backup,audit,cleanup,restart,watch "
                    "(audited)",
            "watch": "seconds to watch after the restart (default: maintenance.watch_s)"})
def maintenance(c: Context, env: str = "dev", check: bool = False, force: bool = False,
                reason: str = "", skip: str = "", watch: float = -1.0) -> None:
    """The runbook's maintenance: notify, backup, pip-audit, sqlite upkeep, clean-up,
    rolling restart, health, watch, notify; only inside a maintenance window."""
    from runner.cli import exit_with, run
    from runner.commands.maintenance import maintenance_command

    exit_with(run(maintenance_command, env, force=force, reason=reason, check=check,
                  skip=skip, watch_s=None if watch < 0 else watch))


@task(help={"env": "environment overlay", "count": "openings to list per kind",
            "json": "print JSON", "notify": "send the advance notices that are due "
            "(maintenance.notice_min; each opening once)"})
def windows(c: Context, env: str = "dev", count: int = 3, json: bool = False,
            notify: bool = False) -> None:
    """Maintenance and freeze windows: open now, and the next openings of each kind."""
    from runner.cli import exit_with, run
    from runner.commands.maintenance import windows_command

    exit_with(run(windows_command, env, count=count, as_json=json, notify=notify))


# ----------------------------------------------------------------- backup and restore (issue 11)


@task(help={"list": "list the snapshots instead of taking one", "json": "print JSON",
            "env": "environment overlay"})
def backup(c: Context, list: bool = False, json: bool = False, env: str = "dev") -> None:  # noqa: A002
    """Consistent snapshot (restic) of the state store, MLflow, DVC data and specs."""
    from runner.backup.commands import backup_command
    from runner.cli import exit_with, run

    exit_with(run(backup_command, env_name=env, list_only=list, as_json=json))


@task(positional=["snapshot"], help={"snapshot": "snapshot id or 'latest'",
            "check": "verify only (restic check, restore --verify, sha256, integrity_check)",
            "reconcile": "reconcile after restoring (--no-reconcile: leave services down)",
            "read_data_subset": "share of the repository's data restic check reads back",
            "env": "environment overlay"})
def restore(c: Context, snapshot: str, check: bool = False, reconcile: bool = True,
            read_data_subset: str = "100%", env: str = "dev") -> None:
    """Verify a snapshot, then restore it into .state/ (nothing changes unless it verifies)."""
    from invoke.exceptions import Exit

    from runner.backup.commands import restore_command
    from runner.cli import exit_with, run

    if snapshot.startswith("-"):  # invoke hands `inv restore --help` over as the snapshot
        raise Exit("usage: inv restore SNAPSHOT|latest [--check] [--no-reconcile] "
                   "(inv --help restore)", code=2)

    exit_with(run(restore_command, snapshot=snapshot, env_name=env, check=check,
                  reconcile=reconcile, read_data_subset=read_data_subset))


# ----------------------------------------------------------------- escalation (issue 11)


@task(positional=["alert"], help={"alert": "page key, its prefix or the alert name; 'list': "
                                           "the open pages",
                                  "json": "print JSON", "env": "environment overlay"})
def ack(c: Context, alert: str, json: bool = False, env: str = "dev") -> None:
    """Acknowledge an open page (stops its escalation); `inv ack list` lists open pages."""
    from invoke.exceptions import Exit

    from runner.cli import exit_with, run
    from runner.commands.ack import ack_command

    if alert.startswith("-"):
        raise Exit("usage: inv ack ALERT|list (inv --help ack)", code=2)
    alert = "" if alert == "list" else alert

    exit_with(run(ack_command, alert=alert, env_name=env, as_json=json))


# ----------------------------------------------------------------- emergencies (issue 11)


@task(positional=["kind"], help={
    "kind": "service-down | data-corruption", "service": "service name",
    "retrain": "data-corruption: retrain on the restored data",
    "rollback": "service-down: roll back a failing service (--no-rollback: report only)",
    "json": "print the report as JSON", "env": "environment overlay"})
def emergency(c: Context, kind: str, service: str, retrain: bool = False, rollback: bool = True,
              json: bool = False, env: str = "dev") -> None:
    """The runbook's P0 procedures: health, deploys, logs, rollback or data restore, report."""
    from runner.cli import exit_with, run
    from runner.emergency import emergency_command

    exit_with(run(emergency_command, kind, service, env_name=env, retrain=retrain,
                  rollback=rollback, as_json=json))


# ----------------------------------------------------------------- verification (issue 12)


@task(help={"service": "verify one service (default: all)", "json": "print JSON",
            "env": "environment overlay"})
def verify(c: Context, service: str = "", json: bool = False, env: str = "dev") -> None:
    """testinfra checks of the running platform against the specs; exit 1 naming each failure."""
    from runner.cli import exit_with, run
    from runner.verify.verify_command import verify_command

    exit_with(run(verify_command, env_name=env, service=service, as_json=json))


@task(help={"service": "service name", "json": "print JSON", "env": "environment overlay",
            "skip": "comma-separated checks to skip (e.g. project_tests)"})
def preflight(c: Context, service: str, json: bool = False, env: str = "dev",
              skip: str = "") -> None:
    """The pre-deployment checklist: one line per check; exit 1 when one fails."""
    from runner.cli import exit_with, run
    from runner.commands.preflight_command import preflight_command

    exit_with(run(preflight_command, service=service, env_name=env, as_json=json, skip=skip))


@task(help={"skip": "comma-separated steps to leave out (setup, validate, render, lint, "
                    "types, tests, plan)"})
def ci(c: Context, skip: str = "") -> None:
    """The pull-request workflow's steps, run locally in order; stops at the first failure."""
    from runner.cli import exit_with, run
    from runner.commands.ci import ci_command

    exit_with(run(ci_command, skip=skip))


# ----------------------------------------------------------------- on call (issue 14)


@task(help={"service": "service name, or mlflow, prometheus, alertmanager, monitor, registry",
            "follow": "keep printing new lines (Ctrl-C stops)",
            "tail": "only the last N lines", "since": "duration (30s, 10m, 2h, 1d) or ISO time",
            "grep": "only lines containing TEXT", "env": "environment overlay"})
def logs(c: Context, service: str, follow: bool = False, tail: int = -1, since: str = "",
         grep: str = "", env: str = "dev") -> None:
    """Every replica's log lines, in time order, each after its replica's name."""
    from runner.cli import exit_with, run
    from runner.commands.logs import logs_command

    exit_with(run(logs_command, service, env_name=env, follow=follow,
                  tail=None if tail < 0 else tail, since=since, grep=grep))


@task(help={"service": "service name", "reason": "why (audit log)", "env": "environment overlay"})
def restart(c: Context, service: str, reason: str = "", env: str = "dev") -> None:
    """Rolling, health-gated restart of every replica at the current revision."""
    from runner.cli import exit_with, run
    from runner.commands.restart_command import restart_command

    exit_with(run(restart_command, service, env_name=env, reason=reason))


@task(help={"service": "service name", "replicas": "the new replica count (within scaling:)",
            "reason": "why (commit message and audit log)", "env": "environment overlay"})
def scale(c: Context, service: str, replicas: int = 0, reason: str = "", env: str = "dev") -> None:
    """Edit replicas: in the spec, commit it with the reason, reconcile the service."""
    from runner.cli import exit_with, run
    from runner.commands.scale import scale_command

    exit_with(run(scale_command, service, replicas, env_name=env, reason=reason))


@task(help={"service": "only this service's checks", "json": "print JSON",
            "env": "environment overlay"})
def doctor(c: Context, service: str = "", json: bool = False, env: str = "dev") -> None:
    """The runbook's troubleshooting as checks: each OK, or the problem and its fix."""
    from runner.cli import exit_with, run
    from runner.commands.doctor import doctor_command

    exit_with(run(doctor_command, env_name=env, service=service, as_json=json))


# ----------------------------------------------------------------- container images (issue 10)


@task(name="images-base", help={"force": "rebuild even when the recipe hash matches"})
def images_base(c: Context, force: bool = False) -> None:
    """Build the local base image (debootstrap bookworm + docker import), cached by recipe."""
    from runner.cli import exit_with, run
    from runner.commands.images_command import base_command

    exit_with(run(base_command, force=force))


@task(help={"env": "environment overlay", "service": "one service (default: all)",
            "ca_bundle": "extra CA bundle for pip inside the build (default: $PIP_CERT)"})
def build(c: Context, env: str = "dev", service: str = "", ca_bundle: str = "") -> None:
    """Build each service's image from its rendered Dockerfile (tags: spec hash, git SHA)."""
    from runner.cli import exit_with, run
    from runner.commands.images_command import build_command

    exit_with(run(build_command, env_name=env, service=service or None, ca_bundle=ca_bundle))


@task(help={"env": "environment overlay", "service": "one service (default: all)"})
def push(c: Context, env: str = "dev", service: str = "") -> None:
    """Push the services' images to the platform's registry (the local one is started)."""
    from runner.cli import exit_with, run
    from runner.commands.images_command import push_command

    exit_with(run(push_command, env_name=env, service=service or None))
