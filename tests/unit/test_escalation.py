"""Severities P0-P3 from the platform spec: classification (a table), routing through the
real sinks (file sinks and a local webhook), acknowledgement and escalation of an
unacknowledged P0, and the monitor timer's backup schedule."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest

from runner.errors import PermanentError
from runner.monitor import audit_access as store
from runner.monitor import escalation, timers
from runner.monitor.alert_model import parse
from runner.monitor.dispatcher import Context
from runner.spec import load_platform
from runner.spec.models import Platform

ROOT = Path(__file__).resolve().parents[2]

# (event, level): the runbook's table as the repository's platform spec sets it.
CASES = [
    ("critical:error_rate", "P0"),
    ("emergency:service-down", "P0"),
    ("emergency:data-corruption", "P0"),
    ("procedure:rollback", "P0"),
    ("critical:latency_p99_s", "P1"),
    ("critical:drift_share", "P1"),
    ("procedure:retrain", "P1"),
    ("warning:error_rate", "P2"),
    ("warning:memory", "P2"),
    ("info:backup", "P3"),
    ("debug:anything", None),
]


@pytest.fixture()
def platform(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Platform:
    monkeypatch.setenv("MLGITOPS_STATE_DIR", str(tmp_path / "state"))  # the file sink's too
    return load_platform(ROOT, "dev").model_copy(update={"root": str(tmp_path)})


@pytest.fixture()
def lead_hook(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[dict[str, Any]]]:
    """The escalation webhook (``oncall-lead``): a real HTTP server on 127.0.0.1."""
    got: list[dict[str, Any]] = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            got.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("MLGITOPS_ESCALATION_WEBHOOK_URL",
                       f"http://127.0.0.1:{server.server_address[1]}/hook")
    monkeypatch.delenv("MLGITOPS_WEBHOOK_URL", raising=False)
    yield got
    server.shutdown()


@pytest.mark.parametrize(("event", "level"), CASES)
def test_events_classify_by_the_spec_table(platform: Platform, event: str, level: str | None
                                           ) -> None:
    found = escalation.classify(platform, event)
    assert (found.name if found else None) == level


def _alert(status: str = "firing") -> Any:
    return parse({"labels": {"alertname": "BankchurnErrorRateCritical", "service": "bankchurn",
                             "severity": "critical", "kind": "error_rate"},
                  "fingerprint": "fp-p0", "status": status})


def test_unacknowledged_p0_escalates_once_and_an_acknowledged_one_never(
    platform: Platform, tmp_path: Path, lead_hook: list[dict[str, Any]]
) -> None:
    state = tmp_path / "state"
    message = {"source": "mlgitops", "event": "alert", **_alert().as_dict()}
    deliveries = escalation.notify_alert(_alert(), platform, state, message)
    # P0 routes: oncall (its URL variable is unset: reported, not raised) and local-log.
    assert {d.sink: d.ok for d in deliveries} == {"oncall": False, "local-log": True}
    line = json.loads((state / "notifications.jsonl").read_text().splitlines()[-1])
    assert (line["level"], line["name"], line["ack"]) == ("P0", "BankchurnErrorRateCritical",
                                                          "inv ack fp-p0")
    (page,) = escalation.open_pages(state)
    opened = page["opened_at"]
    assert escalation.check_due(platform, state, now=opened + 14 * 60) == []
    assert lead_hook == []
    done = escalation.check_due(platform, state, now=opened + 15 * 60 + 1)
    assert [d["key"] for d in done] == ["fp-p0"]
    assert len(lead_hook) == 1 and lead_hook[0]["page"] == "fp-p0"
    assert "not acknowledged after 15.0 min" in lead_hook[0]["summary"]
    assert escalation.check_due(platform, state, now=opened + 60 * 60) == []  # once
    # The alert repeats: same page, no second escalation; an ack closes it.
    escalation.notify_alert(_alert(), platform, state, message)
    assert [p["key"] for p in escalation.open_pages(state)] == ["fp-p0"]
    assert [p["key"] for p in escalation.acknowledge(state, "BankchurnErrorRateCritical",
                                                     actor="alice")] == ["fp-p0"]
    assert escalation.open_pages(state) == []
    actions = [e["action"] for e in store.events("escalation.", state=state)]
    assert actions == [escalation.PAGED, escalation.ESCALATED, escalation.ACKED]
    assert escalation.acknowledge(state, "fp-p0", actor="bob") == []  # already acknowledged
    with pytest.raises(PermanentError, match="name the alert"):
        escalation.acknowledge(state, "", actor="bob")


def test_acknowledged_in_time_is_not_escalated_and_resolved_closes(
    platform: Platform, tmp_path: Path, lead_hook: list[dict[str, Any]]
) -> None:
    state = tmp_path / "state"
    level, _ = escalation.page(platform, state, event="emergency:service-down", key="em-1",
                               title="emergency service-down", service="bankchurn", now=1000.0)
    assert level is not None and level.name == "P0"
    escalation.acknowledge(state, "em", actor="alice", now=1100.0)
    assert escalation.check_due(platform, state, now=10_000.0) == []
    escalation.page(platform, state, event="critical:error_rate", key="fp-2", title="X",
                    now=1000.0)
    escalation.notify_alert(_alert("resolved"), platform, state, {"name": "X"})
    assert escalation.close(state, "fp-2")
    assert escalation.check_due(platform, state, now=10_000.0) == []
    assert lead_hook == []


def test_p2_has_no_escalation_and_no_match_falls_back_to_min_severity(
    platform: Platform, tmp_path: Path, lead_hook: list[dict[str, Any]]
) -> None:
    state = tmp_path / "state"
    escalation.page(platform, state, event="warning:cpu", key="w-1", title="W", now=0.0)
    assert escalation.check_due(platform, state, now=1e9) == []
    bare = platform.model_copy(update={"platform": platform.platform.model_copy(
        update={"escalation": []})})
    out = escalation.notify_alert(_alert(), bare, state, {"name": "Y"})
    assert [d.sink for d in out] == ["local-log", "oncall", "oncall-lead"]  # min_severity


def test_backup_schedule_starts_once_per_cron_fire(platform: Platform, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    ctx = Context(platform, tmp_path / "state")
    started: list[float] = []
    monkeypatch.setattr(timers, "start_backup", lambda c: started.append(1.0) or 4242)
    day = 1_800_000_000.0 - (1_800_000_000 % 86400)  # a UTC midnight; the spec: 03:00 daily
    assert timers.tick(ctx, now=day)["escalated"] == []  # first tick: records only
    assert "backup_pid" not in timers.tick(ctx, now=day + 2 * 3600)
    assert timers.tick(ctx, now=day + 3 * 3600 + 5)["backup_pid"] == 4242
    assert "backup_pid" not in timers.tick(ctx, now=day + 4 * 3600)
    assert timers.tick(ctx, now=day + 27 * 3600 + 1)["backup_pid"] == 4242
    assert len(started) == 2
