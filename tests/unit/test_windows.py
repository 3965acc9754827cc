"""Maintenance and freeze windows: croniter occurrences, the gates, their audit events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from pydantic import ValidationError

from runner.errors import PermanentError
from runner.schedule.gates import (
    OVERRIDE,
    REFUSED,
    WindowClosed,
    refuse_if_frozen,
    require_maintenance_window,
)
from runner.schedule.windows import next_opening, open_now, render, schedule, upcoming
from runner.spec import load_platform
from runner.spec.models import MaintenanceSpec, WindowSpec
from runner.state import StateStore

REPO = Path(__file__).resolve().parents[2]
RUNBOOK = MaintenanceSpec(
    windows=[WindowSpec(name="first-sunday", cron="0 2 * * sun#1", duration_min=120)],
    freeze=[WindowSpec(name="month-end", cron="0 0 28-31 * *", duration_min=1440)],
)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def test_first_sunday_is_sun_hash_1_not_day_1_to_7_or_sunday() -> None:
    starts = [o.start for o in upcoming(RUNBOOK, "maintenance", utc(2026, 11, 30, 12), 4)]
    assert starts == [utc(2026, 12, 6, 2), utc(2027, 1, 3, 2), utc(2027, 2, 7, 2),
                      utc(2027, 3, 7, 2)]
    # The tempting "0 2 1-7 * 0" is day 1-7 OR Sunday in cron: 2026-12-01 is a Tuesday.
    wrong = MaintenanceSpec(windows=[WindowSpec(name="w", cron="0 2 1-7 * 0", duration_min=1)])
    assert upcoming(wrong, "maintenance", utc(2026, 11, 30, 12), 1)[0].start == utc(2026, 12, 1, 2)


@pytest.mark.parametrize(("at", "open_"), [
    (utc(2026, 12, 6, 1, 59), False),
    (utc(2026, 12, 6, 2, 0), True),  # the start itself is inside
    (utc(2026, 12, 6, 3, 59), True),
    (utc(2026, 12, 6, 4, 0), False),  # the end is outside
    (utc(2026, 12, 13, 2, 30), False),  # the second Sunday
])
def test_inside_the_maintenance_window(at: datetime, open_: bool) -> None:
    assert (open_now(RUNBOOK, "maintenance", at) is not None) is open_


def test_month_end_freeze_and_its_end() -> None:
    frozen = open_now(RUNBOOK, "freeze", utc(2026, 11, 30, 12))
    assert frozen is not None and frozen.end == utc(2026, 12, 1)
    assert open_now(RUNBOOK, "freeze", utc(2026, 12, 1, 0, 0)) is None
    assert open_now(RUNBOOK, "freeze", utc(2027, 2, 28, 23, 59)) is not None


def test_timezone_moves_the_window() -> None:
    berlin = MaintenanceSpec(windows=[WindowSpec(name="w", cron="0 2 * * *", duration_min=60,
                                                 timezone="Europe/Berlin")])
    assert next_opening(berlin, "maintenance", utc(2026, 11, 30, 12)).start == utc(2026, 12, 1, 1)
    with pytest.raises(ValidationError, match="unknown time zone"):
        WindowSpec(name="w", cron="* * * * *", duration_min=1, timezone="Mars/Olympus")


def test_inv_windows_table_lists_each_kind() -> None:
    at = utc(2026, 11, 30, 12)
    text = render(schedule(RUNBOOK, at, 2), at)
    assert "maintenance: closed" in text
    assert "next  first-sunday     2026-12-06 02:00 UTC -> 2026-12-06 04:00 UTC" in text
    assert "freeze: OPEN freeze window 'month-end' 2026-11-30 00:00 UTC" in text


def test_dev_has_no_freeze_staging_and_prod_do() -> None:
    at = utc(2026, 11, 30, 12)  # TODAY: the month-end freeze
    assert open_now(load_platform(REPO, "dev").platform.maintenance, "freeze", at) is None
    for env in ("staging", "prod"):
        assert open_now(load_platform(REPO, env).platform.maintenance, "freeze", at)


@pytest.fixture()
def env(tmp_path: Path):
    store = StateStore(tmp_path)
    platform = load_platform(REPO, "staging")
    yield SimpleNamespace(platform=platform, store=store, actor="tester")
    store.close()


def test_freeze_refuses_and_audits_then_force_with_reason_overrides(env) -> None:
    at = utc(2026, 11, 30, 12)
    with pytest.raises(WindowClosed, match=r"deploy bankchurn refused: inside freeze window "
                       r"'month-end' 2026-11-30 00:00 UTC -> 2026-12-01 00:00 UTC; rollbacks "
                       r"stay allowed; override with --force --reason TEXT"):
        refuse_if_frozen(env, "deploy bankchurn", service="bankchurn", at=at)
    with pytest.raises(PermanentError, match="--force needs --reason"):
        refuse_if_frozen(env, "deploy bankchurn", force=True, at=at)
    window = refuse_if_frozen(env, "deploy bankchurn", service="bankchurn", force=True,
                              reason="hotfix for INC-42", at=at)
    assert window is not None and window.name == "month-end"
    refused, forced = env.store.events()[-2:]
    assert (refused.action, refused.outcome, refused.service) == (REFUSED, "refused", "bankchurn")
    assert (forced.action, forced.outcome) == (OVERRIDE, "forced")
    assert forced.detail["reason"] == "hotfix for INC-42"
    assert forced.detail["window"]["name"] == "month-end"
    # Outside the freeze nothing is refused and nothing audited.
    assert refuse_if_frozen(env, "deploy", at=utc(2026, 12, 2)) is None
    assert len(env.store.events()) == 2


def test_maintenance_outside_window_says_when_the_next_opens(env) -> None:
    with pytest.raises(WindowClosed, match=r"outside every maintenance window; the next opens "
                       r"2026-12-06 02:00 UTC \('first-sunday', until 2026-12-06 04:00 UTC\)"):
        require_maintenance_window(env, "maintenance", at=utc(2026, 11, 30, 12))
    assert require_maintenance_window(env, "maintenance", force=True, reason="CVE fix",
                                      at=utc(2026, 11, 30, 12)) == (None, True)
    inside, forced = require_maintenance_window(env, "maintenance",
                                                at=utc(2026, 12, 6, 2) + timedelta(minutes=5))
    assert inside is not None and inside.name == "first-sunday" and not forced
    assert [e.outcome for e in env.store.events()] == ["refused", "forced"]


def test_advance_notice_goes_out_once_within_notice_min(env) -> None:
    from runner.maintenance.notices import advance_notices

    env.environment = "staging"  # notice_min 1440: a day ahead
    sent: list[tuple[str, str, dict]] = []

    def send(text: str, level: str, data: dict) -> list[str]:
        sent.append((text, level, data))
        return ["local-log: appended"]

    assert advance_notices(env, send, at=utc(2026, 12, 4, 12)) == []  # 38 h ahead: not yet
    lines = advance_notices(env, send, at=utc(2026, 12, 5, 3))
    assert len(lines) == 1 and "window 'first-sunday' 2026-12-06 02:00 UTC" in lines[0]
    assert advance_notices(env, send, at=utc(2026, 12, 5, 4)) == []  # announced already
    assert [d["window"] for _, _, d in sent] == ["first-sunday"]


@pytest.mark.parametrize("cron, minutes, at", [
    # The last second before a start: the gate once asked croniter for the latest start
    # before ``at`` + 1 s, got the start a moment away, and saw the window closed. That is
    # how a deploy went through a "now" freeze in CI, once in about sixty runs.
    ("* * * * *", 5, datetime(2026, 11, 30, 10, 24, 59, 500000, tzinfo=UTC)),
    ("* * * * *", 5, datetime(2026, 11, 30, 10, 24, 59, 1, tzinfo=UTC)),
    ("0 0 * * *", 1440, datetime(2026, 11, 30, 23, 59, 59, 999999, tzinfo=UTC)),
    ("0 0 * * *", 1440, datetime(2026, 12, 1, 0, 0, tzinfo=UTC)),  # a start counts
    ("0 0 * * *", 1440, datetime(2026, 12, 1, 0, 0, 0, 1, tzinfo=UTC)),
])
def test_an_always_open_window_is_open_in_every_second(cron: str, minutes: int,
                                                       at: datetime) -> None:
    spec = MaintenanceSpec(windows=[], freeze=[
        WindowSpec(name="always", cron=cron, duration_min=minutes)])
    found = open_now(spec, "freeze", at)
    assert found is not None and found.start <= at < found.end, found


def test_a_window_is_open_exactly_from_its_start_to_before_its_end() -> None:
    spec = MaintenanceSpec(windows=[], freeze=[
        WindowSpec(name="ten", cron="0 12 * * *", duration_min=10)])
    start = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    assert open_now(spec, "freeze", start - timedelta(microseconds=1)) is None
    assert open_now(spec, "freeze", start) is not None
    assert open_now(spec, "freeze", start + timedelta(minutes=10, microseconds=-1)) is not None
    assert open_now(spec, "freeze", start + timedelta(minutes=10)) is None
