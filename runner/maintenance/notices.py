"""Maintenance notices to the platform spec's sinks (``notifications:``).

Sent through a ``Send`` the caller gives (the spec's sinks): the playbook's start,
completion and failure notices, and ``advance_notices``, what ``inv windows --notify``
sends: each maintenance window opening within ``maintenance.notice_min`` is announced once
(the audit log remembers which openings were), so a schedule may run it as often as it
likes.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from runner.schedule.windows import Occurrence, now_utc, stamp, upcoming

if TYPE_CHECKING:
    from runner.operations import Env

NOTICE = "maintenance.notice"  # audit action: an advance notice went out


# (text, level, data) -> one line per sink. The command builds it from
# runner.monitor.sinks (``runner.commands.maintenance.spec_sinks``: monitor sits above
# this package, importing it here would make a package cycle) and lends it to the
# playbook run as resources[NOTIFY].
Send = Callable[[str, str, dict[str, Any]], list[str]]
NOTIFY = "maintenance.notify"


def announced(env: Env, occ: Occurrence) -> bool:
    """Was an advance notice of this opening already sent?"""
    return any(e.action == NOTICE and e.detail.get("start") == occ.start.isoformat()
               and e.detail.get("window") == occ.name for e in env.store.events(limit=500))


def advance_notices(env: Env, send: Send, *, at: datetime | None = None,
                    check_mode: bool = False) -> list[str]:
    """Announce each maintenance opening due within ``notice_min`` (once each)."""
    at = at or now_utc()
    spec = env.platform.platform.maintenance
    horizon = at + timedelta(minutes=spec.notice_min)
    lines: list[str] = []
    for occ in upcoming(spec, "maintenance", at, count=10):
        if occ.start > horizon or announced(env, occ):
            continue
        text = (f"maintenance of {env.environment} in window '{occ.name}' "
                f"{stamp(occ.start)} -> {stamp(occ.end)}: services restart one replica at "
                "a time (no downtime expected)")
        if check_mode:
            lines.append(f"would announce: {text}")
            continue
        sent = send(text, "info", {"window": occ.name, "start": occ.start.isoformat(),
                                   "end": occ.end.isoformat()})
        env.store.audit(NOTICE, actor=env.actor, outcome="sent", window=occ.name,
                        start=occ.start.isoformat(), sinks=sent)
        lines.append(f"announced: {text} ({'; '.join(sent) or 'no sink takes info'})")
    return lines
