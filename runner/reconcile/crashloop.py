"""Crash loops: a service whose replicas keep dying is restarted with backoff, then held.

``inv reconcile --watch`` self-heals: a dead replica at the spec's revision is a
``restart``, a service with none a ``create``. A replica that crashes at start would be
restarted forever. So each restart (a replica died) and each failed create or restart
counts against the service's current revision (state store table ``crashloop``): before
the next attempt the loop waits ``backoff_s(n)`` (doubling, capped), and after ``CAP``
crashes the service is held: marked failed, audited, announced through the notification
sinks (by the command layer: ``ApplyResult.notices``), exported as a metric, and not
started again until its spec changes (a new revision) or a person runs
``inv deploy --service S``. A round that finds the service healthy clears the count.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Any

from runner.operations.decide import Action
from runner.operations.workspace import Env

CAP = 5
MAX_BACKOFF_S = 300.0
BACKOFF_ENV = "MLGITOPS_CRASHLOOP_BACKOFF_S"  # first wait; tests shorten it
COUNTED = ("create", "restart")  # a failed replace is rolled back by its playbook instead


@dataclass(frozen=True)
class Crashes:
    service: str
    revision: tuple[str, int]
    failures: int
    last_at: float
    held: bool


def backoff_s(failures: int) -> float:
    base = float(os.environ.get(BACKOFF_ENV, "10"))
    return min(MAX_BACKOFF_S, base * 2 ** max(0, failures - 1))


def crashes(env: Env, service: str) -> Crashes | None:
    row = env.store.db.execute("SELECT * FROM crashloop WHERE service = ?", (service,)).fetchone()
    if row is None:
        return None
    return Crashes(service, (row["spec_hash"], row["model_version"]), row["failures"],
                   row["last_at"], bool(row["held"]))


def clear(env: Env, service: str) -> None:
    env.store.db.execute("DELETE FROM crashloop WHERE service = ?", (service,))


def _revision(action: Action) -> tuple[str, int]:
    return str(action.after.get("spec_hash", "")), int(action.after.get("model_version", 0))


def gate(env: Env, action: Action, *, by_person: bool) -> str:
    """Why ``action`` must not run now ("" when it may)."""
    found = crashes(env, action.service)
    if found is None:
        return ""
    if found.revision != _revision(action) or (found.held and by_person):
        clear(env, action.service)  # a new spec, or `inv deploy --service S`: try afresh
        if found.held:
            env.store.audit("crashloop_cleared", actor=env.actor, service=action.service,
                            outcome="ok", by="spec change" if not by_person else "inv deploy")
        return ""
    if found.held:
        return (f"held after {found.failures} crashes (crash loop): fix the spec, or run "
                f"inv deploy --service {action.service} to try again")
    wait = found.last_at + backoff_s(found.failures) - time.time()
    if wait > 0 and action.kind in COUNTED:
        return f"backing off {wait:.0f}s after {found.failures} crash(es)"
    return ""


def record(env: Env, action: Action, *, ok: bool, msg: str) -> dict[str, Any] | None:
    """Count a crash (a restart, a failed create/restart); hold the service at ``CAP``.

    Returns the notification to send when the service is held just now."""
    if action.kind not in COUNTED or (ok and action.kind != "restart"):
        if ok and action.kind != "remove":
            clear(env, action.service)
        return None
    found = crashes(env, action.service)
    failures = (found.failures if found and found.revision == _revision(action) else 0) + 1
    held = failures >= CAP
    spec_hash, version = _revision(action)
    env.store.db.execute(
        "INSERT OR REPLACE INTO crashloop (service, spec_hash, model_version, failures,"
        " last_at, held) VALUES (?, ?, ?, ?, ?, ?)",
        (action.service, spec_hash, version, failures, time.time(), int(held)))
    if not held:
        return None
    return _announce(env, action.service, failures, msg)


def _announce(env: Env, service: str, failures: int, msg: str) -> dict[str, Any]:
    env.store.audit("crashloop", actor=env.actor, service=service, outcome="held",
                    failures=failures, last_error=msg[:300])
    message = {"event": "crashloop", "service": service, "failures": failures,
               "summary": f"{service} crashed {failures} times in a row; held (not restarted) "
                          f"until its spec changes or inv deploy --service {service}",
               "last_error": msg[:300], "at": time.time()}
    return message
