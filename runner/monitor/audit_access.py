"""The monitor's one door to the state store: audit events, revisions, reconcile history.

Every read and write the exporter and the alert dispatcher make goes through these few
functions, so a change in ``runner.state`` is absorbed here. Each call opens its own short
connection: the HTTP server answers on several threads and sqlite connections are
per-thread; a connection costs well under a millisecond.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runner.state.paths import actor as default_actor
from runner.state.paths import state_dir
from runner.state.state_store import StateStore

# Audit actions written by the monitor (tests and `inv audit` filter on them).
ALERT_RECEIVED = "alert.received"
ALERT_NOTIFIED = "alert.notified"
PROCEDURE_STARTED = "alert.procedure.started"
PROCEDURE_SKIPPED = "alert.procedure.skipped"
PROCEDURE_REQUESTED = "alert.procedure.requested"
PROCEDURE_FINISHED = "alert.procedure.finished"

# Audit actions written by reconcile that the exporter reads (last reconcile, durations).
RECONCILE_ACTIONS = ("reconcile", "reconcile.apply", "apply")
FINISHED = frozenset({"success", "ok", "changed", "unchanged", "failed", "error"})


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


def reconcile_runs(
    state: Path | None = None, after_id: int = 0
) -> tuple[list[ReconcileRun], int]:
    """Finished reconcile/apply runs logged after audit id ``after_id``, oldest first,
    and the last audit id looked at (pass it back next time to read only what is new).

    An event counts when its outcome is a finished one; the duration comes from
    ``detail.duration_s`` when the writer recorded it. Filtered in SQL: the exporter runs
    this on every scrape and the audit log only grows (alerts repeat), so reading every
    event each time would make scrapes slower by the week.
    """
    db = _open(state)
    try:
        marks = ",".join("?" for _ in RECONCILE_ACTIONS)
        rows = db.db.execute(
            # bandit B608: only "?" placeholders are formatted in; the values are bound.
            f"SELECT id, at, outcome, detail FROM audit WHERE id > ? AND action IN ({marks})"  # noqa: S608 # nosec B608
            " ORDER BY id",
            (after_id, *RECONCILE_ACTIONS),
        ).fetchall()
        last = db.db.execute("SELECT COALESCE(MAX(id), 0) FROM audit").fetchone()[0]
    finally:
        db.close()
    runs: list[ReconcileRun] = []
    for _, at, outcome, detail in rows:
        outcome = str(outcome).lower()
        if outcome not in FINISHED:
            continue
        try:
            raw = json.loads(detail).get("duration_s")
        except (ValueError, AttributeError):
            raw = None
        duration = float(raw) if isinstance(raw, int | float) else None
        runs.append(ReconcileRun(float(at), outcome not in ("failed", "error"), duration))
    return runs, max(int(last), after_id)


def sync_states(state: Path | None = None, environment: str = "") -> list[Any]:
    """The pull loop's status of ``environment`` and of every environment with sync events."""
    from runner.state import sync_log

    db = _open(state)
    try:
        names = sorted(set(sync_log.environments(db)) | ({environment} - {""}))
        return [sync_log.latest(db, name) for name in names]
    finally:
        db.close()


def crashes(state: Path | None = None) -> dict[str, tuple[int, bool]]:
    """Consecutive crashes and whether the service is held, per service in a crash loop."""
    store = _open(state)
    try:
        rows = store.db.execute("SELECT service, failures, held FROM crashloop").fetchall()
    finally:
        store.close()
    return {str(r[0]): (int(r[1]), bool(r[2])) for r in rows}
