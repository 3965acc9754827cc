"""The monitor's one door to the state store: audit events, revisions, reconcile history.

Every read and write the exporter and the alert dispatcher make goes through these few
functions, so a change in ``runner.state`` is absorbed here. Each call opens its own short
connection: the HTTP server answers on several threads and sqlite connections are
per-thread; a connection costs well under a millisecond.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runner.state.paths import actor as default_actor
from runner.state.paths import state_dir
from runner.state.store import StateStore

# Audit actions written by the monitor (tests and `inv audit` filter on them).
ALERT_RECEIVED = "alert.received"
ALERT_NOTIFIED = "alert.notified"
PROCEDURE_STARTED = "alert.procedure.started"
PROCEDURE_SKIPPED = "alert.procedure.skipped"
PROCEDURE_REQUESTED = "alert.procedure.requested"
PROCEDURE_FINISHED = "alert.procedure.finished"

# Audit actions written by reconcile that the exporter reads (last reconcile, durations).
RECONCILE_ACTIONS = ("reconcile", "reconcile.apply", "apply")


@dataclass(frozen=True)
class Deployed:
    """What the exporter and the rollback rule need from a service's current revision."""

    service: str
    revision: int
    model_version: int
    deployed_at: float


@dataclass(frozen=True)
class ReconcileRun:
    at: float
    success: bool
    duration_s: float | None


def _open(state: Path | None) -> StateStore:
    return StateStore(state or state_dir())


def audit(
    action: str, *, service: str = "", outcome: str = "", state: Path | None = None,
    actor: str | None = None, **detail: Any,
) -> None:
    """Append one audit event (the monitor acts as ``monitor`` unless told otherwise)."""
    store = _open(state)
    try:
        store.audit(
            action, actor=actor or f"monitor({default_actor()})", service=service,
            outcome=outcome, **detail,
        )
    finally:
        store.close()


def events(
    prefix: str = "", *, state: Path | None = None, limit: int = 5000
) -> list[dict[str, Any]]:
    """Audit events whose action starts with ``prefix``, oldest first, as plain dicts."""
    store = _open(state)
    try:
        found = store.events(limit=limit)
    finally:
        store.close()
    return [
        {
            "id": e.id, "at": e.at, "actor": e.actor, "action": e.action,
            "service": e.service, "outcome": e.outcome, "detail": e.detail,
        }
        for e in found
        if e.action.startswith(prefix)
    ]


def deployed(state: Path | None = None) -> dict[str, Deployed]:
    """The current (latest successful) revision of every service."""
    store = _open(state)
    try:
        current = store.current_all()
    finally:
        store.close()
    return {
        name: Deployed(name, rev.number, rev.model_version, rev.created_at)
        for name, rev in current.items()
    }


def reconcile_runs(state: Path | None = None, limit: int = 5000) -> list[ReconcileRun]:
    """Finished reconcile/apply runs from the audit log, oldest first.

    An event counts when its outcome is ``success``/``ok`` or ``failed``; the duration
    comes from ``detail.duration_s`` when the writer recorded it.
    """
    runs: list[ReconcileRun] = []
    for event in events(state=state, limit=limit):
        if event["action"] not in RECONCILE_ACTIONS:
            continue
        outcome = str(event["outcome"]).lower()
        if outcome not in ("success", "ok", "changed", "unchanged", "failed", "error"):
            continue
        raw = event["detail"].get("duration_s")
        duration = float(raw) if isinstance(raw, int | float) else None
        runs.append(ReconcileRun(event["at"], outcome not in ("failed", "error"), duration))
    return runs
