"""Registry history: which model version was in production at time T, and why.

The answer comes from the state store, where every deploy records a revision (spec hash,
model version, git commit, actor, reason, outcome) and every promotion, alias move and
rollback an audit event. A revision serves from its creation until the next serving
revision: ``success`` ones, and ``rolled_back`` ones (they did serve until the rollback
replaced them); ``failed`` ones never served. The matching ``promote`` / ``rollback`` /
``alias`` events explain the change (who, when, why, spec commit).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from runner.errors import PermanentError
from runner.state.state_store import ROLLED_BACK, SUCCESS, AuditEvent, Revision, StateStore

EXPLAINING = ("promote", "rollback", "alias", "retrain")


def parse_time(text: str) -> float:
    """ISO 8601 (naive = UTC), or seconds since the epoch."""
    text = text.strip()
    try:
        return float(text)
    except ValueError:
        pass
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise PermanentError(f"--at {text!r}: not an ISO time (2026-11-29T10:00:00Z) or "
                             "epoch seconds", field="--at") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def serving_at(revisions: list[Revision], at: float) -> Revision | None:
    """The revision in production at ``at`` (see the module docstring)."""
    found = None
    for rev in sorted(revisions, key=lambda r: (r.created_at, r.number)):
        if rev.created_at > at:
            break
        if rev.outcome in (SUCCESS, ROLLED_BACK):
            found = rev
    return found


def explain(events: list[AuditEvent], rev: Revision, at: float) -> list[AuditEvent]:
    """The promotion/rollback/alias events that led to ``rev`` (up to ``at``)."""
    version = rev.model_version
    out = []
    for e in events:
        if e.at > at or e.action not in EXPLAINING:
            continue
        d = e.detail
        if version in (d.get("to_version"), d.get("model_version"), d.get("version"),
                       d.get("candidate_version")):
            out.append(e)
    return out[-3:]


def version_at(store: StateStore, service: str, at: float) -> dict[str, Any] | None:
    rev = serving_at(store.revisions(service), at)
    if rev is None:
        return None
    why = explain(store.events(service, limit=100000), rev, at)
    return {
        "service": service, "at": at, "model_name": rev.model_name,
        "model_version": rev.model_version, "revision": rev.number,
        "since": rev.created_at, "actor": rev.actor, "reason": rev.reason,
        "spec_commit": rev.git_commit, "outcome_now": rev.outcome,
        "events": [{"at": e.at, "action": e.action, "actor": e.actor, "outcome": e.outcome,
                    **{k: v for k, v in e.detail.items()
                       if k in ("from_version", "to_version", "commit", "reason", "alias",
                                "version", "to_revision")}} for e in why],
    }


def _when(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def history_at_command(service: str, at: str, as_json: bool = False,
                       root: Path | None = None) -> int:
    """``inv history --service S --at TIME``: the version in production then, and why."""
    from runner.state.paths import repo_root, state_dir

    moment = parse_time(at)
    store = StateStore(state_dir(root or repo_root()))
    try:
        found = version_at(store, service, moment)
    finally:
        store.close()
    if as_json:
        print(json.dumps(found, indent=2, default=str))
        return 0 if found else 1
    if found is None:
        print(f"{service}: nothing was in production at {_when(moment)}")
        return 1
    commit = found["spec_commit"][:12] or "-"
    print(f"{service} at {_when(moment)}: {found['model_name']} v{found['model_version']} "
          f"(revision {found['revision']}, serving since {_when(found['since'])}, "
          f"by {found['actor']}, spec commit {commit})")
    print(f"  reason: {found['reason'] or '-'}")
    for e in found["events"]:
        extra = {k: v for k, v in e.items() if k not in ("at", "action", "actor", "outcome")}
        print(f"  {_when(e['at'])} {e['action']:<9} {e['outcome']:<8} {e['actor']} "
              f"{json.dumps(extra, default=str)}")
    if found["outcome_now"] == ROLLED_BACK:
        print("  (this revision was later rolled back)")
    return 0


