"""Maintenance notices to the platform spec's sinks (``notifications:``).

``announce`` sends one message (start, completion, failure) from the maintenance
playbook. ``advance_notices`` is what ``inv windows --notify`` sends: each maintenance
window opening within ``maintenance.notice_min`` is announced once (the audit log
remembers which openings were), so a schedule may run it as often as it likes.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from runner.schedule.windows import Occurrence, now_utc, stamp, upcoming

if TYPE_CHECKING:
    from runner.operations import Env

NOTICE = "maintenance.notice"  # audit action: an advance notice went out


def announce(env: Env, text: str, *, level: str = "info", **data: Any) -> list[str]:
    """Deliver to every sink whose min_severity admits ``level``; one line per sink."""
    from runner.monitor.sinks import deliver

    plat = env.platform.platform
    message = {"kind": "maintenance", "environment": env.environment, "severity": level,
               "text": text, **data}
    sent = deliver(plat.notifications, message, severity=level, root=env.root,
                   configured_state=plat.state_dir)
    return [f"{d.sink}: {d.msg}" for d in sent]


def announced(env: Env, occ: Occurrence) -> bool:
    """Was an advance notice of this opening already sent?"""
    return any(e.action == NOTICE and e.detail.get("start") == occ.start.isoformat()
               and e.detail.get("window") == occ.name for e in env.store.events(limit=500))


def advance_notices(env: Env, *, at: datetime | None = None, check_mode: bool = False
                    ) -> list[str]:
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
        sent = announce(env, text, window=occ.name, start=occ.start.isoformat(),
                        end=occ.end.isoformat())
        env.store.audit(NOTICE, actor=env.actor, outcome="sent", window=occ.name,
                        start=occ.start.isoformat(), sinks=sent)
        lines.append(f"announced: {text} ({'; '.join(sent) or 'no sink takes info'})")
    return lines
