"""The gates that consult the windows before a change, and the override that opens them.

``refuse_if_frozen`` is the one check every change calls (apply with changes, promotion,
an alert-started procedure); ``require_maintenance_window`` is ``inv maintenance``'s.
A refusal names the window and when it closes (or when the next maintenance window
opens); ``force`` with a ``reason`` goes on, and the override is in the audit log.
Refusals are audited too: who tried what, when, is part of the record.

Refusals are ``WindowClosed``, a temporary error: the same command succeeds once the
window ends, so ``inv reconcile --watch`` reports it and keeps looping.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from runner.errors import PermanentError, TemporaryError
from runner.schedule.windows import Occurrence, next_opening, now_utc, open_now, stamp
from runner.spec.models import Platform
from runner.state.state_store import StateStore

OVERRIDE = "window.override"  # audit action of a forced change
REFUSED = "window.refused"  # audit action of a refused one
# Alert procedures that reduce risk: allowed inside a freeze window.
RISK_REDUCING = frozenset({"rollback"})


class WindowClosed(TemporaryError):
    """A change refused by the windows of the platform spec (retry after they change)."""

    exit_code = 3


class Gated(Protocol):
    """What the gates need of an opened environment (``runner.operations.Env``)."""

    platform: Platform
    store: StateStore
    actor: str


def _need_reason(force: bool, reason: str) -> None:
    if force and not reason.strip():
        raise PermanentError("--force needs --reason TEXT (it goes to the audit log)")


def refuse_if_frozen(env: Gated, what: str, *, service: str = "", force: bool = False,
                     reason: str = "", at: datetime | None = None) -> Occurrence | None:
    """Raise WindowClosed when ``what`` would start inside a freeze window, unless forced
    (then audited); returns the freeze window that was overridden, if any."""
    at = at or now_utc()
    frozen = open_now(env.platform.platform.maintenance, "freeze", at)
    if frozen is None:
        return None
    _need_reason(force, reason)
    if not force:
        env.store.audit(REFUSED, actor=env.actor, service=service, outcome="refused",
                        what=what, window=frozen.as_dict())
        raise WindowClosed(f"{what} refused: inside {frozen.describe()}; rollbacks stay "
                           "allowed; override with --force --reason TEXT")
    env.store.audit(OVERRIDE, actor=env.actor, service=service, outcome="forced", what=what,
                    window=frozen.as_dict(), reason=reason)
    return frozen


def require_maintenance_window(env: Gated, what: str, *, force: bool = False,
                               reason: str = "", at: datetime | None = None
                               ) -> tuple[Occurrence | None, bool]:
    """(the open maintenance window, forced?): WindowClosed outside every window unless
    forced, the message saying when the next one opens."""
    at = at or now_utc()
    spec = env.platform.platform.maintenance
    current = open_now(spec, "maintenance", at)
    if current is not None:
        return current, False
    _need_reason(force, reason)
    nxt = next_opening(spec, "maintenance", at)
    when = (f"the next opens {stamp(nxt.start)} ('{nxt.name}', until {stamp(nxt.end)})"
            if nxt else "the spec has no maintenance window (platform.maintenance.windows)")
    if not force:
        env.store.audit(REFUSED, actor=env.actor, outcome="refused", what=what,
                        next=nxt.as_dict() if nxt else None)
        raise WindowClosed(f"{what} refused: outside every maintenance window; {when}; "
                           "override with --force --reason TEXT")
    env.store.audit(OVERRIDE, actor=env.actor, outcome="forced", what=what, reason=reason,
                    kind="maintenance", next=nxt.as_dict() if nxt else None)
    return None, True
