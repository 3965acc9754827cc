"""The pull loop's sync status per environment, kept as ``sync`` events in the audit log.

Like Argo CD's sync status: which commit an environment last converged to, and which
newer commit was refused (failed validation or render) and why. Audit events rather than a
table of their own: they are append-only already, carry actor and time, and ``inv history``
and the exporter read them like every other event.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from runner.state.state_store import StateStore

ACTION = "sync"
SYNCED = "synced"  # fetched, valid, fast-forwarded and converged
FAILED = "failed"  # valid and checked out, but the apply failed (rolled back)
REFUSED = "refused"  # invalid: not checked out; the last good commit keeps running


@dataclass(frozen=True)
class SyncState:
    """What the pull loop last did in one environment."""

    environment: str
    status: str  # synced | failed | refused | unknown (the loop never ran)
    synced_commit: str  # last commit converged to ("" when none yet)
    refused_commit: str  # newest refused commit since then ("" when none)
    reason: str  # why it was refused or failed
    at: float

    def as_dict(self) -> dict[str, object]:
        return dict(self.__dict__)


def record(store: StateStore, environment: str, outcome: str, commit: str, *, actor: str,
           reason: str = "", branch: str = "") -> None:
    """Append one sync event."""
    store.audit(ACTION, actor=actor, outcome=outcome, environment=environment, commit=commit,
                reason=reason, branch=branch)


def latest(store: StateStore, environment: str) -> SyncState:
    """The environment's sync status from its sync events (newest last)."""
    rows = store.db.execute(
        "SELECT at, outcome, detail FROM audit WHERE action = ? ORDER BY id", (ACTION,)
    ).fetchall()
    state = SyncState(environment, "unknown", "", "", "", 0.0)
    for at, outcome, detail in rows:
        data = json.loads(detail)
        if data.get("environment") != environment:
            continue
        commit = str(data.get("commit", ""))
        reason = str(data.get("reason", ""))
        if outcome == REFUSED:
            state = SyncState(environment, REFUSED, state.synced_commit, commit, reason, at)
        else:  # synced or failed: the commit is checked out either way
            state = SyncState(environment, str(outcome), commit, "", reason, at)
    return state


def environments(store: StateStore) -> list[str]:
    """Environments that have sync events."""
    rows = store.db.execute("SELECT detail FROM audit WHERE action = ?", (ACTION,)).fetchall()
    return sorted({str(json.loads(r[0]).get("environment", "")) for r in rows} - {""})
