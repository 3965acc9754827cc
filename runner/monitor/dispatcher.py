"""What happens to each alert Alertmanager posts: audit, notify, maybe start a procedure.

Order matters: the audit event is written first (a crash later still leaves the record),
then the alert actions, then the notification sinks (``notify``, which the server calls
outside its alert lock: a slow sink must not hold up the next alert). Procedures run as
detached child processes (``python -m runner.commands.alert_procedure``) so the webhook answers
Alertmanager in milliseconds; a reaper thread per child collects its exit status.
Alert times are receipt times (``with_receipt_times``), never the payload's.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from runner.errors import PermanentError
from runner.monitor import actions, sinks
from runner.monitor import audit_access as store
from runner.monitor.alert_model import Alert, parse_webhook
from runner.spec.models import Platform
from runner.state.paths import PRIVATE_UMASK, private_opener


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


MAX_ALERTS_PER_PAYLOAD = 100  # Alertmanager's max_alerts in the rendered config, too
# A firing episode unseen this long is over even without a "resolved" (one lost while the
# monitor was down): Alertmanager repeats a firing alert at least every repeat_interval (4h).
EPISODE_GAP_S = 6 * 3600


class TooManyAlerts(PermanentError):
    """A payload with more alerts than one webhook call may carry (HTTP 413)."""


def accept(payload: Any) -> list[Alert]:
    """The alerts of a webhook payload, refused when there are more than the cap."""
    alerts = parse_webhook(payload)
    if len(alerts) > MAX_ALERTS_PER_PAYLOAD:
        raise TooManyAlerts(f"more than {MAX_ALERTS_PER_PAYLOAD} alerts in one payload")
    return alerts


def handle_payload(payload: Any, ctx: Context) -> list[dict[str, Any]]:
    """Handle one webhook payload: act on its alerts, then notify. Returns what was done
    per alert (for the audit log and tests; the HTTP reply says none of it)."""
    alerts = accept(payload)
    done = act(alerts, ctx)
    notify(alerts, ctx)
    return done


def act(alerts: list[Alert], ctx: Context, now: float | None = None) -> list[dict[str, Any]]:
    """Audit each alert and start, record or skip its actions (the server holds its alert
    lock around this: it is fast, the notifications are not)."""
    timed = with_receipt_times(alerts, ctx.state, time.time() if now is None else now)
    return [handle_alert(alert, ctx) for alert in timed]


def notify(alerts: list[Alert], ctx: Context) -> None:
    """Send each alert to the notification sinks and audit the outcome."""
    for alert in alerts:
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


def with_receipt_times(alerts: list[Alert], state: Path, now: float) -> list[Alert]:
    """The alerts with ``starts_at`` set to when this monitor first received them firing.

    The payload's ``startsAt`` is whatever the sender wrote (and Alertmanager's API takes
    alerts from anyone on the host): a forged start inside the post-deploy window could
    start a rollback long after it, and a fresh start time per post would defeat the
    duplicate check. Receipt times are ours: the first firing receipt of a fingerprint
    opens its episode, a resolved one (or a long silence) closes it.
    """
    out = []
    with actions.Ledger(state, "episodes").locked() as episodes:
        for alert in alerts:
            seen = episodes.get(alert.fingerprint)
            if seen is not None and now - float(seen.get("seen", 0)) > EPISODE_GAP_S:
                seen = None
            if not alert.firing:
                episodes.pop(alert.fingerprint, None)
                first = float(seen["since"]) if seen else now
            else:
                first = float(seen["since"]) if seen else now
                episodes[alert.fingerprint] = {"since": first, "seen": now}
            out.append(replace(alert, starts_at=rfc3339(first)))
    return out


def rfc3339(at: float) -> str:
    return datetime.fromtimestamp(at, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def handle_alert(alert: Alert, ctx: Context) -> dict[str, Any]:
    store.audit(
        store.ALERT_RECEIVED, service=alert.service, outcome=alert.status, state=ctx.state,
        alert=alert.name, severity=alert.severity, kind=alert.kind,
        fingerprint=alert.fingerprint, starts_at=alert.starts_at, summary=alert.summary,
        runbook=alert.runbook,
    )
    done = [_act(decision, alert, ctx) for decision in
            actions.decide(alert, ctx.platform, store.deployed(ctx.state))]
    return {
        "alert": alert.name, "service": alert.service, "status": alert.status,
        "fingerprint": alert.fingerprint, "actions": done,
    }


def _act(decision: actions.Decision, alert: Alert, ctx: Context) -> dict[str, Any]:
    """Start, record or skip one matched action, exactly once per alert episode."""
    common: dict[str, Any] = {
        "playbook": decision.playbook, "alert": alert.name,
        "fingerprint": alert.fingerprint, "vars": dict(decision.vars),
    }
    key = f"{decision.playbook}:{alert.fingerprint}"
    episode = alert.starts_at  # receipt time of the episode's first firing notification
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
    argv = [sys.executable, "-m", "runner.commands.alert_procedure", decision.playbook,
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
    with open(log, "ab", opener=private_opener) as out:
        child = subprocess.Popen(  # noqa: S603 - argv list, no shell
            procedure_argv(decision, ctx), env=env, cwd=str(ctx.root),
            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True, close_fds=True, umask=PRIVATE_UMASK,
        )
    # Collect the exit status so finished procedures do not linger as zombies.
    threading.Thread(target=child.wait, name=f"reap-{child.pid}", daemon=True).start()
    return child.pid
