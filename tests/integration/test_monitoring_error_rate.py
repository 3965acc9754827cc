"""Error-rate alert end to end, from a real replica under load to the runner's webhook.

A bankchurn replica started by the local runtime (demo model in a temp MLflow registry,
fault switch enabled), Prometheus with the rendered config and rules scraping it through
the runtime's file_sd targets, Alertmanager with the rendered routing, and the monitor.
A bounded load with 10% of predictions forced to fail must fire
``BankchurnErrorRateCritical`` in Prometheus, reach Alertmanager and the webhook, land in
the audit log and ``inv alerts``, and request the rollback of the deploy just made (the
test's root has no rollback playbook, so it is recorded once). Stopping the fault while
good traffic continues resolves the alert.
"""

from __future__ import annotations

import math
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from monitoring_stack import ROOT, Stack, fast_platform, have_binaries, make_root, wait_for
from serving_support import build_registry, fixture

from runner.monitor import store
from runner.render.artifacts import render_all
from runner.runtime.base import ReplicaSpec
from runner.runtime.local import LocalRuntime, free_port
from runner.state.store import SUCCESS, StateStore

pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.skipif(not have_binaries(), reason="prometheus/alertmanager not installed"),
]
ALERT = "BankchurnErrorRateCritical"
MAX_REQUESTS = 20_000  # the load is bounded in count and in time
MAX_LOAD_S = 150.0


@dataclass
class Load:
    """A paced, bounded request loop on its own thread, counting answers by status."""

    url: str
    body: object
    pause_s: float = 0.01
    statuses: Counter[int] = field(default_factory=Counter)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        began = time.monotonic()
        with httpx.Client(timeout=5) as client:
            while (not self.stop.is_set() and sum(self.statuses.values()) < MAX_REQUESTS
                   and time.monotonic() - began < MAX_LOAD_S):
                try:
                    self.statuses[client.post(self.url, json=self.body).status_code] += 1
                except httpx.HTTPError:
                    self.statuses[0] += 1
                time.sleep(self.pause_s)

    def snapshot(self) -> Counter[int]:
        return Counter(self.statuses)


@pytest.fixture()
def live(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Stack, str]]:
    registry = build_registry(tmp_path_factory)
    root = make_root(tmp_path)
    platform = fast_platform(root)
    stack = Stack(platform, tmp_path, tmp_path / "state")
    stack.state.mkdir()
    runtime = LocalRuntime(stack.state, root)
    replicas = []
    try:
        stack.write_configs(render_all(platform))
        stack.start_monitor()
        stack.start_alertmanager()
        project = ROOT / "projects" / "bankchurn"
        replicas.append(runtime.start(ReplicaSpec(
            service="bankchurn", spec_hash="monitoring-test", model_name="bankchurn-model",
            model_version=int(registry.versions["bankchurn"]), port=free_port(),
            project_dir=project, tracking_uri=registry.tracking_uri,
            smoke_request=project / "tests" / "fixtures" / "sample_request.json",
            extra_env={"MLGITOPS_FAULT_ENABLE": "1"},
        )))
        db = StateStore(stack.state)  # the deploy the alert may roll back
        db.add_revision("bankchurn", spec_hash="monitoring-test", model_name="bankchurn-model",
                        model_version=int(registry.versions["bankchurn"]), actor="test",
                        reason="deploy", outcome=SUCCESS)
        db.close()
        stack.start_prometheus()
        yield stack, f"http://127.0.0.1:{replicas[0].admin_port}"
    finally:
        for fact in replicas:
            runtime.stop(fact)
        stack.stop()


def test_forced_errors_fire_error_rate_critical_then_resolve(live: tuple[Stack, str]) -> None:
    stack, admin = live
    wait_for("the bankchurn replica up in Prometheus",
             lambda: stack.target_up("mlservice-bankchurn"), 30, stack.logs)
    fault = httpx.post(f"{admin}/_fault", json={"error_rate": 0.1, "duration_s": 120}, timeout=5)
    assert fault.status_code == 200
    load = Load(f"{_public_url(stack)}/predict", fixture("bankchurn"))
    worker = threading.Thread(target=load.run, daemon=True)
    worker.start()
    try:
        wait_for(f"{ALERT} firing in Prometheus", lambda: [
            a for a in stack.prom_alerts()
            if a["labels"]["alertname"] == ALERT and a["state"] == "firing"
        ], 60, stack.logs)
        wait_for(f"{ALERT} at the webhook", lambda: stack.received(ALERT, "firing"),
                 30, stack.logs)
        during = load.snapshot()
        shown = stack.inv_alerts()
        assert shown[ALERT]["service"] == "bankchurn"
        assert shown[ALERT]["runbook"] == "docs/runbook.md#error-rate"

        httpx.post(f"{admin}/_fault", json={"error_rate": 0.0, "duration_s": 1}, timeout=5)
        wait_for(f"{ALERT} resolved at the webhook", lambda: stack.received(ALERT, "resolved"),
                 MAX_LOAD_S - 30, stack.logs)
    finally:
        load.stop.set()
        worker.join(timeout=10)

    sent = sum(during.values())
    share = during[500] / max(1, sent)
    # About the 10% asked for: within four binomial standard deviations (few requests on a
    # busy machine make the observed share noisy).
    assert sent >= 20 and abs(share - 0.1) <= 4 * math.sqrt(0.09 / sent), during
    assert set(load.statuses) <= {200, 500}, load.statuses
    requested = store.events(store.PROCEDURE_REQUESTED, state=stack.state)
    assert [(e["service"], e["detail"]["playbook"]) for e in requested] == [
        ("bankchurn", "rollback")
    ]
    assert requested[0]["detail"]["vars"]["revision"] == "1"


def _public_url(stack: Stack) -> str:
    """The replica's public port, from the runtime's record of it."""
    import json

    (record,) = (stack.state / "run" / "services" / "bankchurn").glob("*.json")
    return f"http://127.0.0.1:{json.loads(record.read_text())['port']}"
