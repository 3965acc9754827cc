"""Recurring windows from the platform spec: a cron expression plus a duration.

Pure: a spec and an instant in, occurrences out. ``maintenance.windows`` are when planned
work may run (``inv maintenance``), ``maintenance.freeze`` when changes may not start.
Each window's cron is read in its ``timezone`` (UTC by default) with croniter, so
"first Sunday of the month" is ``0 2 * * sun#1``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from runner.spec.models import MaintenanceSpec, WindowSpec

Kind = Literal["maintenance", "freeze"]
KINDS: tuple[Kind, ...] = ("maintenance", "freeze")


@dataclass(frozen=True)
class Occurrence:
    """One opening of a window: [start, end)."""

    kind: Kind
    name: str
    cron: str
    start: datetime
    end: datetime

    def contains(self, at: datetime) -> bool:
        return self.start <= at < self.end

    def describe(self) -> str:
        """``freeze window 'month-end' 2026-11-30 00:00 -> 2026-12-01 00:00 UTC``."""
        return f"{self.kind} window '{self.name}' {stamp(self.start)} -> {stamp(self.end)}"

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "name": self.name, "cron": self.cron,
                "start": self.start.isoformat(), "end": self.end.isoformat()}


def stamp(at: datetime) -> str:
    """A UTC instant as people read it in a log line."""
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def now_utc() -> datetime:
    return datetime.now(UTC)


def of_kind(spec: MaintenanceSpec, kind: Kind) -> list[WindowSpec]:
    return list(spec.windows if kind == "maintenance" else spec.freeze)


def _occurrence(window: WindowSpec, kind: Kind, start: datetime) -> Occurrence:
    start = start.astimezone(UTC)
    return Occurrence(kind, window.name, window.cron, start,
                      start + timedelta(minutes=window.duration_min))


def _local(window: WindowSpec, at: datetime) -> datetime:
    if at.tzinfo is None:
        raise ValueError("window computations need an aware datetime")
    return at.astimezone(ZoneInfo(window.timezone))


def latest_start(window: WindowSpec, kind: Kind, at: datetime) -> Occurrence:
    """The occurrence that started last at or before ``at``.

    When ``at`` is inside any occurrence of this window it is inside this one: all last
    the same, and this one ends last."""
    from croniter import croniter

    # croniter's get_prev is strict: a second later makes a start at ``at`` itself count.
    # That second can also reach a start just after ``at`` (in the last second before it):
    # then the one before is the latest start. Without this step every window looked closed
    # during the last second before each of its starts.
    local = _local(window, at)
    it = croniter(window.cron, local + timedelta(seconds=1))
    start = it.get_prev(datetime)
    if start > local:
        start = it.get_prev(datetime)
    return _occurrence(window, kind, start)


def open_now(spec: MaintenanceSpec, kind: Kind, at: datetime) -> Occurrence | None:
    """The open window of ``kind`` at ``at`` that stays open longest, or None."""
    found = [o for o in (latest_start(w, kind, at) for w in of_kind(spec, kind))
             if o.contains(at)]
    return max(found, key=lambda o: o.end, default=None)


def upcoming(spec: MaintenanceSpec, kind: Kind, at: datetime, count: int = 3
             ) -> list[Occurrence]:
    """The next ``count`` openings of ``kind`` starting after ``at``, all windows merged."""
    from croniter import croniter

    found: list[Occurrence] = []
    for window in of_kind(spec, kind):
        it = croniter(window.cron, _local(window, at))
        found.extend(_occurrence(window, kind, it.get_next(datetime)) for _ in range(count))
    return sorted(found, key=lambda o: (o.start, o.name))[:count]


def next_opening(spec: MaintenanceSpec, kind: Kind, at: datetime) -> Occurrence | None:
    nxt = upcoming(spec, kind, at, count=1)
    return nxt[0] if nxt else None


def schedule(spec: MaintenanceSpec, at: datetime, count: int = 3
             ) -> dict[Kind, dict[str, Any]]:
    """For each kind: the window open now (if any) and the next ``count`` openings."""
    return {kind: {"open": open_now(spec, kind, at), "next": upcoming(spec, kind, at, count)}
            for kind in KINDS}


def render(table: dict[Kind, dict[str, Any]], at: datetime) -> str:
    """The ``inv windows`` table."""
    lines = [f"now: {stamp(at)}"]
    for kind in KINDS:
        row = table[kind]
        current: Occurrence | None = row["open"]
        nxt: Iterable[Occurrence] = row["next"]
        head = f"{kind}: OPEN {current.describe()}" if current else f"{kind}: closed"
        lines.append(head)
        listed = list(nxt)
        if not listed:
            lines.append("  no windows of this kind in the spec")
        for occ in listed:
            lines.append(f"  next  {occ.name:<16} {stamp(occ.start)} -> {stamp(occ.end)}"
                         f"  ({occ.cron})")
    return "\n".join(lines)
