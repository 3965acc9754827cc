"""What happens to each alert Alertmanager posts: audit, notify, maybe start a procedure.

Order matters: the audit event is written first (a crash later still leaves the record),
then the notification sinks, then the alert actions. Procedures run as detached child
processes (``python -m runner.monitor.procedure``) so the webhook answers Alertmanager in
milliseconds; a reaper thread per child collects its exit status.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runner.monitor import actions, sinks, store
from runner.monitor.alerts import Alert, parse_webhook
from runner.spec.models import Platform


@dataclass
class Context:
    """Everything the dispatcher needs: the desired state and where runtime state lives."""

    platform: Platform
    state: Path
    env: str = "dev"

    @property
    def root(self) -> Path:
        return Path(self.platform.root)

    def playbook_path(self, name: str) -> Path:
        return self.root / "playbooks" / f"{name}.yaml"


def handle_payload(payload: Any, ctx: Context) -> dict[str, Any]:
    """Handle one webhook payload; returns what was done per alert (the HTTP reply)."""
    return {"alerts": [handle_alert(alert, ctx) for alert in parse_webhook(payload)]}


def handle_alert(alert: Alert, ctx: Context) -> dict[str, Any]:
    store.audit(
        store.ALERT_RECEIVED, service=alert.service, outcome=alert.status, state=ctx.state,
        alert=alert.name, severity=alert.severity, kind=alert.kind,
        fingerprint=alert.fingerprint, starts_at=alert.starts_at, summary=alert.summary,
        runbook=alert.runbook,
    )
    message = {"source": "mlgitops", "event": "alert", **alert.as_dict()}
    deliveries = sinks.deliver(
        ctx.platform.platform.notifications, message, severity=alert.severity,
        root=ctx.root, configured_state=ctx.platform.platform.state_dir,
    )
    if deliveries:
        store.audit(
            store.ALERT_NOTIFIED, service=alert.service,
            outcome="ok" if all(d.ok for d in deliveries) else "partial", state=ctx.state,
            alert=alert.name, fingerprint=alert.fingerprint,
            deliveries=[d.as_dict() for d in deliveries],
        )
    done = [_act(decision, alert, ctx) for decision in
            actions.decide(alert, ctx.platform, store.deployed(ctx.state))]
    return {
        "alert": alert.name, "service": alert.service, "status": alert.status,
        "fingerprint": alert.fingerprint, "notified": [d.as_dict() for d in deliveries],
        "actions": done,
    }


def _act(decision: actions.Decision, alert: Alert, ctx: Context) -> dict[str, Any]:
    """Start, record or skip one matched action, exactly once per alert episode."""
    common: dict[str, Any] = {
        "playbook": decision.playbook, "alert": alert.name,
        "fingerprint": alert.fingerprint, "vars": dict(decision.vars),
    }
    key = f"{decision.playbook}:{alert.fingerprint}"
    episode = alert.starts_at or alert.fingerprint
    ledger = actions.Ledger(ctx.state)
    detail: dict[str, Any]
    with ledger.locked() as entries:
        # The ledger first: a repeat of an alert already acted on is a duplicate even when
        # the facts changed since (after a rollback the alert is no longer "after a deploy").
        reason = actions.why_not(entries, key, episode, decision.playbook, decision.service)
        if reason:
            outcome, detail = "duplicate", {"reason": reason}
        elif decision.skip:
            outcome, detail = "skipped", {"reason": decision.skip}
        elif not ctx.playbook_path(decision.playbook).is_file():
            actions.record(entries, key, episode=episode, playbook=decision.playbook,
                           service=decision.service, how="requested")
            outcome = "requested"
            detail = {"reason": f"playbooks/{decision.playbook}.yaml does not exist yet"}
        else:
            pid = _launch(decision, ctx)
            actions.record(entries, key, episode=episode, playbook=decision.playbook,
                           service=decision.service, how="started", pid=pid)
            outcome, detail = "started", {"pid": pid}
    action = {
        "started": store.PROCEDURE_STARTED,
        "requested": store.PROCEDURE_REQUESTED,
        "duplicate": store.PROCEDURE_SKIPPED,
        "skipped": store.PROCEDURE_SKIPPED,
    }[outcome]
    store.audit(action, service=decision.service, outcome=outcome, state=ctx.state,
                **common, **detail)
    return {"outcome": outcome, **detail, **common}


def procedure_argv(decision: actions.Decision, ctx: Context) -> list[str]:
    argv = [sys.executable, "-m", "runner.monitor.procedure", decision.playbook,
            "--env", ctx.env]
    for name, value in sorted(decision.vars.items()):
        argv += ["-e", f"{name}={value}"]
    return argv


def _launch(decision: actions.Decision, ctx: Context) -> int:
    log = ctx.state / "run" / "procedures" / (
        f"{decision.playbook}-{decision.service}-{time.strftime('%Y%m%dT%H%M%S')}.log"
    )
    log.parent.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env.update(
        MLGITOPS_ROOT=str(ctx.root), MLGITOPS_STATE_DIR=str(ctx.state),
        MLGITOPS_ACTOR=env.get("MLGITOPS_ACTOR", "monitor"),
    )
    with open(log, "ab") as out:
        child = subprocess.Popen(  # noqa: S603 - argv list, no shell
            procedure_argv(decision, ctx), env=env, cwd=str(ctx.root),
            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True, close_fds=True,
        )
    # Collect the exit status so finished procedures do not linger as zombies.
    threading.Thread(target=child.wait, name=f"reap-{child.pid}", daemon=True).start()
    return child.pid
