"""Parsing Alertmanager's payloads and matching alert actions (monitor.alert_model, actions)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from runner.errors import PermanentError
from runner.monitor import actions
from runner.monitor.alert_model import kind_of, parse, parse_webhook, runbook_section
from runner.monitor.audit_access import Deployed
from runner.spec import load_platform
from runner.spec.models import Platform

ROOT = Path(__file__).resolve().parents[2]

# A payload as Alertmanager 0.25 posts it (webhook version 4), trimmed to one alert.
WEBHOOK = {
    "receiver": "runner",
    "status": "firing",
    "alerts": [
        {
            "status": "firing",
            "labels": {
                "alertname": "DriftShareCritical",
                "service": "bankchurn",
                "severity": "critical",
            },
            "annotations": {"summary": "bankchurn: 60% of features drifted"},
            "startsAt": "2026-11-29T10:00:01.123456789Z",
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://127.0.0.1:9090/graph",
            "fingerprint": "3f1c2a9b0d4e5f60",
        }
    ],
    "groupLabels": {"alertname": "DriftShareCritical"},
    "commonLabels": {"severity": "critical"},
    "commonAnnotations": {},
    "externalURL": "http://127.0.0.1:9093",
    "version": "4",
    "groupKey": '{}:{alertname="DriftShareCritical"}',
    "truncatedAlerts": 0,
}


@pytest.fixture(scope="module")
def platform() -> Platform:
    return load_platform(ROOT, "dev")


def test_webhook_payload_parses_into_alerts() -> None:
    (alert,) = parse_webhook(WEBHOOK)
    assert alert.name == "DriftShareCritical"
    assert (alert.service, alert.severity) == ("bankchurn", "critical")
    assert alert.kind == "drift_share" and alert.firing
    assert alert.fingerprint == "3f1c2a9b0d4e5f60"
    assert alert.runbook == "docs/runbook.md#drift-share"


def test_webhook_rejects_other_versions_and_shapes() -> None:
    with pytest.raises(PermanentError, match="version 3"):
        parse_webhook({**WEBHOOK, "version": "3"})
    with pytest.raises(PermanentError, match="alerts list"):
        parse_webhook({"version": "4"})
    with pytest.raises(PermanentError, match="alertname"):
        parse_webhook({"version": "4", "alerts": [{"labels": {}}]})


@pytest.mark.parametrize(
    ("labels", "kind"),
    [
        ({"alertname": "ErrorRateCritical"}, "error_rate"),
        ({"alertname": "bankchurn_latency_p99_warning"}, "latency_p99_s"),
        ({"alertname": "HighCPU"}, "cpu"),
        ({"alertname": "MemoryHigh"}, "memory"),
        ({"alertname": "Whatever", "kind": "drift_share"}, "drift_share"),
        ({"alertname": "TargetDown"}, ""),
    ],
)
def test_kind_comes_from_label_or_name(labels: dict[str, str], kind: str) -> None:
    assert kind_of(labels) == kind


def test_runbook_annotation_wins() -> None:
    assert runbook_section("cpu", {"runbook_url": "docs/runbook.md#x"}) == "docs/runbook.md#x"
    assert runbook_section("", {}) == "docs/runbook.md"


def test_api_v2_status_object() -> None:
    alert = parse({
        "labels": {"alertname": "ErrorRateCritical", "service": "telecom"},
        "status": {"state": "active", "silencedBy": [], "inhibitedBy": []},
        "fingerprint": "ab", "startsAt": "2026-11-29T10:00:00Z",
    })
    assert alert.firing and alert.severity == "warning" and alert.kind == "error_rate"


def test_parse_time_handles_nanoseconds_and_zero() -> None:
    assert actions.parse_time("2026-11-29T10:00:01.123456789Z") == pytest.approx(
        1795946401.123456, abs=1e-3
    )
    assert actions.parse_time("0001-01-01T00:00:00Z") is None
    assert actions.parse_time("nonsense") is None


def _alert(kind_name: str, severity: str, starts: float, status: str = "firing"):  # type: ignore[no-untyped-def]
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(starts))
    return parse({
        "labels": {"alertname": kind_name, "service": "bankchurn", "severity": severity},
        "status": status, "startsAt": stamp, "fingerprint": "f1",
    })


def test_drift_critical_requests_retrain(platform: Platform) -> None:
    alert = _alert("DriftShareCritical", "critical", time.time())
    (decision,) = actions.decide(alert, platform, {})
    assert decision.playbook == "retrain" and not decision.skip
    assert decision.vars["service"] == "bankchurn"


def test_warnings_and_resolved_alerts_start_nothing(platform: Platform) -> None:
    assert actions.decide(_alert("DriftShareWarning", "warning", time.time()), platform, {}) == []
    resolved = _alert("DriftShareCritical", "critical", time.time(), status="resolved")
    assert actions.decide(resolved, platform, {}) == []


def test_rollback_only_inside_post_deploy_window(platform: Platform) -> None:
    now = time.time()
    deployed = {"bankchurn": Deployed("bankchurn", 7, 3, now - 120)}
    (inside,) = actions.decide(_alert("ErrorRateCritical", "critical", now), platform, deployed)
    assert inside.playbook == "rollback" and not inside.skip
    assert inside.vars["revision"] == "7"
    old = {"bankchurn": Deployed("bankchurn", 7, 3, now - 3600)}
    (outside,) = actions.decide(_alert("LatencyP99Critical", "critical", now), platform, old)
    assert "outside the 600s post-deploy window" in outside.skip
    (none,) = actions.decide(_alert("ErrorRateCritical", "critical", now), platform, {})
    assert none.skip == "no deploy on record"


def test_ledger_refuses_a_second_run_while_one_runs(tmp_path: Path) -> None:
    ledger = actions.Ledger(tmp_path)
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        with ledger.locked() as entries:
            assert actions.why_not(entries, "rollback:f1", "e1", "rollback", "bankchurn") == ""
            actions.record(entries, "rollback:f1", episode="e1", playbook="rollback",
                           service="bankchurn", how="started", pid=sleeper.pid)
        entries = ledger.entries()
        # Same fingerprint, a new episode: still refused while the first runs.
        why = actions.why_not(entries, "rollback:f1", "e2", "rollback", "bankchurn")
        assert "already running" in why
        # Another alert (other fingerprint) for the same service and playbook: refused too.
        why = actions.why_not(entries, "rollback:f2", "e9", "rollback", "bankchurn")
        assert "already running" in why
        assert actions.why_not(entries, "rollback:f3", "e9", "rollback", "telecom") == ""
    finally:
        sleeper.kill()
        sleeper.wait()
    entries = ledger.entries()
    # Finished: the same episode is still not started twice; a new episode may start.
    why = actions.why_not(entries, "rollback:f1", "e1", "rollback", "bankchurn")
    assert "already started for this alert" in why
    assert actions.why_not(entries, "rollback:f1", "e2", "rollback", "bankchurn") == ""


def _anchors(markdown: str) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens."""
    import re

    out = set()
    for line in markdown.splitlines():
        if line.startswith("#"):
            title = line.lstrip("#").strip().lower()
            out.add(re.sub(r"[^\w\- ]", "", title).replace(" ", "-"))
    return out


def test_every_runbook_link_of_the_rendered_rules_exists(platform: Platform) -> None:
    from runner.render.alert_rules import KINDS, service_alerts

    anchors = _anchors((ROOT / "docs" / "runbook.md").read_text())
    links = {rule.runbook for svc in platform.services.values() for rule in service_alerts(svc)}
    links |= {runbook_section(kind, {}) for kind in KINDS}  # the fallback of inv alerts
    for link in sorted(links):
        doc, _, anchor = link.partition("#")
        assert doc == "docs/runbook.md" and anchor in anchors, link


def test_inv_alerts_says_so_when_alertmanager_is_not_running() -> None:
    import socket

    from runner.errors import TemporaryError
    from runner.monitor.firing import alerts_command

    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(TemporaryError) as caught:
        alerts_command(url=f"http://127.0.0.1:{port}")
    assert caught.value.one_line() == (
        f"alertmanager is not running at http://127.0.0.1:{port} (ConnectError)"
    )


def test_alert_table_puts_critical_first_with_runbook() -> None:
    from runner.monitor.firing import format_table, order

    def api(name: str, service: str, severity: str, kind: str) -> dict[str, object]:
        return {"labels": {"alertname": name, "service": service, "severity": severity,
                           "kind": kind},
                "annotations": {}, "status": {"state": "active"},
                "startsAt": "2026-11-29T10:00:01.5Z", "fingerprint": name}

    alerts = order([parse(api("TelecomCpuWarning", "telecom", "warning", "cpu")),
                    parse(api("BankchurnErrorRateCritical", "bankchurn", "critical",
                              "error_rate"))])
    lines = format_table(alerts).splitlines()
    assert lines[0].split() == ["SEVERITY", "ALERT", "SERVICE", "SINCE", "RUNBOOK"]
    assert lines[1].split() == ["critical", "BankchurnErrorRateCritical", "bankchurn",
                                "2026-11-29", "10:00:01", "docs/runbook.md#error-rate"]
    assert lines[2].endswith("docs/runbook.md#cpu")
    assert format_table([]) == "no alerts firing"


def test_alert_fields_cannot_inject_templates_into_playbook_vars(platform: Platform) -> None:
    alert = parse({
        "labels": {"alertname": "Drift{{ lookup('env','HOME') }}", "service": "bankchurn",
                   "severity": "critical", "kind": "drift_share"},
        "status": "firing", "startsAt": "2026-11-29T10:00:00Z", "fingerprint": "{%x%}",
    })
    (decision,) = actions.decide(alert, platform, {})
    assert all("{" not in v and "}" not in v and "%" not in v for v in decision.vars.values())


def test_stop_running_ends_the_procedures_alerts_started(tmp_path: Path) -> None:
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"],
                               start_new_session=True)
    try:
        with actions.Ledger(tmp_path).locked() as entries:
            actions.record(entries, "rollback:f1", episode="e1", playbook="rollback",
                           service="bankchurn", how="started", pid=sleeper.pid)
            actions.record(entries, "retrain:f2", episode="e2", playbook="retrain",
                           service="telecom", how="requested")
        assert actions.stop_running(tmp_path) == [f"rollback for bankchurn (pid {sleeper.pid})"]
        assert sleeper.wait(timeout=10) is not None
        assert actions.stop_running(tmp_path) == []
    finally:
        sleeper.kill()
        sleeper.wait()
