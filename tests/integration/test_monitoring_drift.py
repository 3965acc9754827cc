"""Drift alert end to end: gauge -> exporter -> Prometheus rule -> Alertmanager -> webhook.

Real processes on free ports: the monitor (``python -m runner.monitor.server``), Prometheus
with the rendered config and rules (1 s scrape and evaluation, ``for: 0s``) and
Alertmanager with the rendered routing (grouping timers cut to seconds so repeats happen
during the test). The retrain playbook does not exist in the test's root, so the alert
action must be recorded as requested: once, however often Alertmanager repeats. Once a
retrain playbook exists, the same alert (on another service) starts it, once, through the
real playbook engine in a background process.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from monitoring_stack import Stack, fast_platform, have_binaries, make_root, wait_for

from runner.monitor import audit_access as store
from runner.monitor import drift_gauge
from runner.render.artifacts import render_all

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not have_binaries(), reason="prometheus/alertmanager not installed"),
]
ALERT = "BankchurnDriftShareCritical"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp_path = tmp_path_factory.mktemp("monitoring-drift")
    root = make_root(tmp_path)
    platform = fast_platform(root)
    stack = Stack(platform, tmp_path, tmp_path / "state")
    stack.state.mkdir()
    try:
        stack.write_configs(render_all(platform))
        stack.start_monitor()
        stack.start_alertmanager()
        stack.start_prometheus()
        yield stack
    finally:
        stack.stop()


def test_drift_above_critical_fires_and_requests_retrain_once(stack: Stack) -> None:
    wait_for("the runner target up in Prometheus", lambda: stack.target_up("mlgitops-runner"),
             30, stack.logs)
    drift_gauge.set("bankchurn", 0.8, state=stack.state)

    firing = wait_for(f"{ALERT} firing in Prometheus", lambda: [
        a for a in stack.prom_alerts()
        if a["labels"]["alertname"] == ALERT and a["state"] == "firing"
    ], 30, stack.logs)
    assert firing[0]["labels"]["service"] == "bankchurn"
    wait_for(f"{ALERT} in Alertmanager", lambda: [
        a for a in stack.am_alerts() if a["labels"]["alertname"] == ALERT
    ], 20, stack.logs)
    # Alertmanager repeats the group every ~2 s here: wait for at least three deliveries.
    wait_for("three webhook deliveries", lambda: len(stack.received(ALERT, "firing")) >= 3,
             30, stack.logs)
    # A delivery is logged on receipt and its procedure decision just after: wait for the
    # decisions of the repeats, not only for their arrival.
    wait_for("two repeats recorded as duplicates", lambda: len([
        e for e in store.events("alert.procedure", state=stack.state)
        if e["outcome"] == "duplicate"
    ]) >= 2, 20, stack.logs)

    events = store.events("alert.procedure", state=stack.state)
    requested = [e for e in events if e["action"] == store.PROCEDURE_REQUESTED]
    assert len(requested) == 1, events
    assert requested[0]["service"] == "bankchurn"
    assert requested[0]["detail"]["playbook"] == "retrain"
    duplicates = [e for e in events if e["outcome"] == "duplicate"]
    assert len(duplicates) >= 2
    # The warning fires too but is inhibited by the critical one: never delivered.
    names = {e["detail"]["alert"] for e in store.events(store.ALERT_RECEIVED, state=stack.state)}
    assert "BankchurnDriftShareWarning" not in names
    # The notification file sink got them, under the test's state dir.
    lines = (stack.state / "notifications.jsonl").read_text().splitlines()
    assert json.loads(lines[0])["name"] == ALERT

    shown = stack.inv_alerts()
    assert shown[ALERT]["service"] == "bankchurn"
    assert shown[ALERT]["runbook"] == "docs/runbook.md#drift-share"
    assert "BankchurnDriftShareWarning" not in shown  # inhibited

    # Back under the threshold: the alert resolves and the webhook hears it.
    drift_gauge.set("bankchurn", 0.1, state=stack.state)
    wait_for("the resolved notification", lambda: stack.received(ALERT, "resolved"), 30, stack.logs)
    requested_after = store.events(store.PROCEDURE_REQUESTED, state=stack.state)
    assert len(requested_after) == 1



RETRAIN_STANDIN = """\
- name: Retrain {{ service }} (test stand-in for playbooks/retrain.yaml)
  tasks:
    - name: Record the retrain request
      notify:
        msg: "retrain {{ service }}: {{ reason }}"
        file: "%s"
"""


def test_drift_starts_the_retrain_playbook_once_when_it_exists(stack: Stack) -> None:
    alert = "CarvisionDriftShareCritical"
    ran = stack.state / "retrain-ran.jsonl"
    playbook = Path(stack.platform.root) / "playbooks" / "retrain.yaml"
    playbook.write_text(RETRAIN_STANDIN % ran)
    try:
        drift_gauge.set("carvision", 0.9, state=stack.state)
        wait_for("three deliveries", lambda: len(stack.received(alert, "firing")) >= 3,
                 45, stack.logs)
        finished = wait_for("the procedure to finish", lambda: store.events(
            store.PROCEDURE_FINISHED, state=stack.state), 60, stack.logs)
    finally:
        drift_gauge.set("carvision", 0.0, state=stack.state)
        playbook.unlink()
    started = [e for e in store.events(store.PROCEDURE_STARTED, state=stack.state)
               if e["service"] == "carvision"]
    assert len(started) == 1 and started[0]["detail"]["playbook"] == "retrain"
    assert [(e["service"], e["outcome"]) for e in finished] == [("carvision", "success")]
    (line,) = ran.read_text().splitlines()
    assert json.loads(line)["text"].startswith(f"retrain carvision: {alert} (critical)")
