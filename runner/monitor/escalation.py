"""Severities P0-P3 (``escalation:`` in the platform spec): route, record, escalate, ack.

Every event that reaches a person is classified first: an alert as
``<alert severity>:<kind>`` (``critical:error_rate``), a failed procedure as
``procedure:<playbook>``, an emergency as ``emergency:<kind>``. The first level (P0
first) with a matching selector decides the routes (sinks named in the spec, notified
whatever their ``min_severity``: the route is an explicit choice) and the response time.
An event no level matches goes to the sinks by ``min_severity`` as before.

A page stays open until acknowledged (``inv ack ALERT``) or resolved; one not acknowledged
within its level's ``response_min`` is sent to ``escalate_to`` once (``check_due``, run by
the monitor's timer). Pages live in ``<state>/monitor/pages.json`` under the ledger lock.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from runner.errors import PermanentError
from runner.monitor import audit_access as store
from runner.monitor import sinks
from runner.monitor.actions import Ledger
from runner.monitor.alert_model import Alert
from runner.spec.models import EscalationLevel, Platform

PAGED = "escalation.paged"
ACKED = "escalation.acked"
ESCALATED = "escalation.escalated"
RESOLVED = "escalation.resolved"


def classify(platform: Platform, event: str) -> EscalationLevel | None:
    """The first level (by name: P0 first) whose selectors match ``event``."""
    head, _, kind = event.partition(":")
    for level in sorted(platform.platform.escalation, key=lambda lv: lv.name):
        for selector in level.match:
            want_head, _, want_kind = selector.partition(":")
            if want_head in (head, "*") and want_kind in (kind, "*"):
                return level
    return None


def route(platform: Platform, names: list[str], message: Mapping[str, Any]
          ) -> list[sinks.Delivery]:
    """Deliver to the named sinks, whatever their min_severity."""
    chosen = [s for s in platform.platform.notifications if s.name in names]
    return sinks.deliver(chosen, message, severity="critical", root=Path(platform.root),
                         configured_state=platform.platform.state_dir)


def page(platform: Platform, state: Path, *, event: str, key: str, title: str,
         service: str = "", detail: Mapping[str, Any] | None = None,
         now: float | None = None) -> tuple[EscalationLevel | None, list[sinks.Delivery]]:
    """Classify ``event``, notify its routes and open (or refresh) page ``key``."""
    level = classify(platform, event)
    if level is None:
        return None, []
    now = time.time() if now is None else now
    # The caller's message (an alert's fields) stays flat; the level's fields are added.
    message = {"source": "mlgitops", "event": "page", "title": title, "service": service,
               **(detail or {}), "level": level.name, "response_min": level.response_min,
               "page": key, "ack": f"inv ack {key}"}
    deliveries = route(platform, level.routes, message)
    with Ledger(state, "pages").locked() as pages:
        entry = pages.get(key)
        fresh = entry is None or bool(entry.get("closed")) or bool(entry.get("acked"))
        if fresh:
            pages[key] = {"key": key, "severity": level.name, "event": event, "title": title,
                          "service": service, "opened_at": now,
                          "due_at": now + level.response_min * 60, "acked": None,
                          "escalated": None, "closed": None, "last_seen": now}
        else:
            pages[key]["last_seen"] = now
    if fresh:
        store.audit(PAGED, service=service, outcome=level.name, state=state, page=key,
                    event=event, title=title, response_min=level.response_min,
                    deliveries=[d.as_dict() for d in deliveries])
    return level, deliveries


def notify_alert(alert: Alert, platform: Platform, state: Path,
                 message: Mapping[str, Any]) -> list[sinks.Delivery]:
    """The dispatcher's notification of one alert: by severity level when one matches,
    else by the sinks' min_severity (the behaviour before levels existed)."""
    event = f"{alert.severity}:{alert.kind or alert.name}"
    level = classify(platform, event)
    if level is None:
        return sinks.deliver(platform.platform.notifications, message,
                             severity=alert.severity, root=Path(platform.root),
                             configured_state=platform.platform.state_dir)
    if alert.firing:
        return page(platform, state, event=event, key=alert.fingerprint, title=alert.name,
                    service=alert.service, detail=message)[1]
    close(state, alert.fingerprint)
    return route(platform, level.routes, {**message, "level": level.name})


def close(state: Path, key: str, now: float | None = None) -> bool:
    """The page's cause resolved: no escalation any more."""
    with Ledger(state, "pages").locked() as pages:
        entry = pages.get(key)
        if entry is None or entry.get("closed"):
            return False
        entry["closed"] = time.time() if now is None else now
    store.audit(RESOLVED, service=str(entry.get("service", "")), outcome="resolved",
                state=state, page=key)
    return True


def open_pages(state: Path) -> list[dict[str, Any]]:
    return sorted((p for p in Ledger(state, "pages").entries().values()
                   if not p.get("closed") and not p.get("acked")),
                  key=lambda p: (p["severity"], p["opened_at"]))


def acknowledge(state: Path, ident: str, *, actor: str, now: float | None = None
                ) -> list[dict[str, Any]]:
    """Acknowledge the open pages ``ident`` names (page key, key prefix or alert name)."""
    if not ident:
        raise PermanentError("name the alert to acknowledge (inv ack list shows them)")
    now = time.time() if now is None else now
    done = []
    with Ledger(state, "pages").locked() as pages:
        for key, entry in pages.items():
            if entry.get("closed") or entry.get("acked"):
                continue
            if key == ident or key.startswith(ident) or entry.get("title") == ident:
                entry["acked"] = {"by": actor, "at": now}
                done.append(dict(entry))
    for entry in done:
        store.audit(ACKED, service=str(entry.get("service", "")), outcome=entry["severity"],
                    state=state, actor=actor, page=entry["key"],
                    after_s=round(now - float(entry["opened_at"]), 1))
    return done


def check_due(platform: Platform, state: Path, now: float | None = None
              ) -> list[dict[str, Any]]:
    """Send every open page past its response time to its level's ``escalate_to`` (once)."""
    now = time.time() if now is None else now
    levels: dict[str, EscalationLevel] = {lv.name: lv for lv in platform.platform.escalation}
    due = []
    with Ledger(state, "pages").locked() as pages:
        for entry in pages.values():
            level = levels.get(str(entry.get("severity")), None)
            if (level is None or not level.escalate_to or entry.get("acked")
                    or entry.get("closed") or entry.get("escalated")
                    or now < float(entry.get("due_at", now + 1))):
                continue
            entry["escalated"] = now
            due.append((dict(entry), level))
    out = []
    for entry, level in due:
        minutes = round((now - float(entry["opened_at"])) / 60, 1)
        message = {"source": "mlgitops", "event": "escalation", "level": entry["severity"],
                   "title": entry["title"], "service": entry.get("service", ""),
                   "page": entry["key"], "ack": f"inv ack {entry['key']}",
                   "summary": f"{entry['severity']} {entry['title']} not acknowledged after "
                              f"{minutes} min (response time {level.response_min} min)"}
        deliveries = route(platform, level.escalate_to, message)
        store.audit(ESCALATED, service=str(entry.get("service", "")), outcome=entry["severity"],
                    state=state, page=entry["key"], to=level.escalate_to, after_min=minutes,
                    deliveries=[d.as_dict() for d in deliveries])
        out.append({**entry, "escalated_to": level.escalate_to})
    return out
