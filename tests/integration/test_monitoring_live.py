"""The live monitoring stack: a replica under load, Prometheus, Alertmanager, the monitor.

A bankchurn replica started by the local runtime (demo model in a temp MLflow registry,
fault switch enabled), Prometheus with the rendered config and rules scraping it through
the runtime's file_sd targets, Alertmanager with the rendered routing, and the monitor.
A bounded load with 10% of predictions forced to fail must fire
``BankchurnErrorRateCritical`` in Prometheus, reach Alertmanager and the webhook, land in
the audit log and ``inv alerts``, and request the rollback of the deploy just made (the
test's root has no rollback playbook, so it is recorded once). Stopping the fault while
good traffic continues resolves the alert.

The same stack then answers for the rendered files: every alert rule evaluates without
error, every dashboard panel's query returns data, every metric name the rules and
dashboards reference is exported by some target. The checks walk the rendered files, so a
new panel or rule is covered without touching this test.
"""

from __future__ import annotations

import json
import math
import re
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import pytest
import yaml
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


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Stack, str]]:
    registry = build_registry(tmp_path_factory)
    tmp_path = tmp_path_factory.mktemp("monitoring-live")
    root = make_root(tmp_path)
    platform = fast_platform(root)
    stack = Stack(platform, tmp_path, tmp_path / "state")
    stack.state.mkdir()
    runtime = LocalRuntime(stack.state, root)
    replicas = []
    try:
        stack.files = render_all(platform)
        stack.write_configs(stack.files)
        stack.start_monitor()
        stack.start_alertmanager()
        project = ROOT / "projects" / "bankchurn"
        replicas.append(runtime.start(ReplicaSpec(
            service="bankchurn", spec_hash="monitoring-test", model_name="bankchurn-model",
            model_version=int(registry.versions["bankchurn"]), port=free_port(),
            project_dir=project, tracking_uri=registry.tracking_uri,
            smoke_request=project / "tests" / "fixtures" / "sample_request.json",
            extra_env={"MLGITOPS_FAULT_ENABLE": "1"},
            health_retries=120,  # a budget of 90 s: the machine may be busy importing mlflow
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
    began = time.time()
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
        wait_for(f"{ALERT} at the webhook", lambda: stack.received(ALERT, "firing", began),
                 30, stack.logs)
        during = load.snapshot()
        shown = stack.inv_alerts()
        assert shown[ALERT]["service"] == "bankchurn"
        assert shown[ALERT]["runbook"] == "docs/runbook.md#error-rate"

        httpx.post(f"{admin}/_fault", json={"error_rate": 0.0, "duration_s": 1}, timeout=5)
        wait_for(f"{ALERT} resolved at the webhook",
                 lambda: stack.received(ALERT, "resolved", began), MAX_LOAD_S - 30, stack.logs)
    finally:
        load.stop.set()
        worker.join(timeout=10)

    sent = sum(during.values())
    share = during[500] / max(1, sent)
    # About the 10% asked for: within four binomial standard deviations (few requests on a
    # busy machine make the observed share noisy).
    assert sent >= 20 and abs(share - 0.1) <= 4 * math.sqrt(0.09 / sent), during
    assert set(load.statuses) <= {200, 500}, load.statuses
    requested = [e for e in store.events(store.PROCEDURE_REQUESTED, state=stack.state)
                 if e["at"] >= began]
    assert [(e["service"], e["detail"]["playbook"]) for e in requested] == [
        ("bankchurn", "rollback")
    ]
    assert requested[0]["detail"]["vars"]["revision"] == "1"


def _public_url(stack: Stack) -> str:
    """The replica's public port, from the runtime's record of it."""
    (record,) = (stack.state / "run" / "services" / "bankchurn").glob("*.json")
    return f"http://127.0.0.1:{json.loads(record.read_text())['port']}"


# ------------------------------------------------------------ the rendered files, live

GRAFANA_VARS = {"$service": ".+", "$__rate_interval": "1m", "$__interval": "15s",
                "$__range": "1h"}
PROMQL_WORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and",
                "or", "unless", "offset", "inf", "nan"}


@pytest.fixture(scope="module")
def loaded(live: tuple[Stack, str]) -> Stack:
    """The stack after a short load: some failed and many good predictions, scraped."""
    stack, admin = live
    url = f"{_public_url(stack)}/predict"
    errors = 'sum(mlservice_requests_total{status=~"5.."})'
    with httpx.Client(timeout=5) as client:
        if not stack.query(errors):  # the error-rate test did not run first
            client.post(f"{admin}/_fault", json={"error_rate": 0.3, "duration_s": 30})
            while not any(client.post(url, json=fixture("bankchurn")).status_code == 500
                          for _ in range(10)):
                pass
            client.post(f"{admin}/_fault", json={"error_rate": 0.0, "duration_s": 1})
        for _ in range(20):
            client.post(url, json=fixture("bankchurn"))
    wait_for("the load scraped", lambda: stack.query(
        'sum(rate(mlservice_requests_total{status=~"5.."}[5m])) > 0'), 30, stack.logs)
    return stack


def rendered_rules(stack: Stack) -> list[dict[str, object]]:
    rules: list[dict[str, object]] = []
    for rel, text in sorted(stack.files.items()):
        if rel.startswith("prometheus/rules/"):
            for group in yaml.safe_load(text)["groups"]:
                rules.extend(group["rules"])
    return rules


def panel_queries(stack: Stack) -> list[tuple[str, str, str]]:
    """(dashboard, panel title, PromQL with Grafana's variables filled in) for every target."""
    found = []
    for rel, text in sorted(stack.files.items()):
        if not (rel.startswith("grafana/dashboards/") and rel.endswith(".json")):
            continue
        stack_panels = list(json.loads(text).get("panels", []))
        while stack_panels:
            panel = stack_panels.pop(0)
            stack_panels.extend(panel.get("panels", []))
            for target in panel.get("targets", []):
                expr = target.get("expr", "")
                for var, value in GRAFANA_VARS.items():
                    expr = expr.replace(var, value)
                assert "$" not in expr, f"{rel} {panel.get('title')}: unknown variable in {expr}"
                found.append((rel, str(panel.get("title")), expr))
    return found


def metric_names(expr: str) -> set[str]:
    """Metric names in a PromQL expression (not functions, keywords, labels or strings)."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', "", expr)  # label values
    text = re.sub(r"\{[^}]*\}", "", text)  # label matchers
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", text)
    text = re.sub(r"\[[^\]]*\]", "", text)  # range durations
    names = set()
    for match in re.finditer(r"(?<![\w.])([A-Za-z_:][\w:]*)(\s*\()?", text):
        word, call = match.group(1), match.group(2)
        if not call and word.lower() not in PROMQL_WORDS:
            names.add(word)
    return names


def test_every_rule_evaluates_without_error(loaded: Stack) -> None:
    rules = rendered_rules(loaded)
    assert len(rules) == 30  # 3 services x 5 thresholds x (warning, critical)
    for rule in rules:
        loaded.query(str(rule["expr"]))  # raises with Prometheus' message on an error

    def evaluated() -> dict[str, dict[str, object]] | None:
        reply = httpx.get(f"{loaded.url('prometheus')}/api/v1/rules", timeout=5).json()
        live_rules = {r["name"]: r for g in reply["data"]["groups"] for r in g["rules"]}
        return live_rules if all(r["health"] != "unknown" for r in live_rules.values()) else None

    live_rules = wait_for("every rule evaluated", evaluated, 20, loaded.logs)
    assert set(live_rules) == {r["alert"] for r in rules}
    broken = {n: r["lastError"] for n, r in live_rules.items() if r["health"] != "ok"}
    assert broken == {}


def test_every_dashboard_panel_returns_data(loaded: Stack) -> None:
    queries = panel_queries(loaded)
    assert len({rel for rel, _, _ in queries}) == 4  # the four dashboards
    empty = []
    for rel, title, expr in queries:
        try:
            wait_for(f"{rel} {title}", lambda e=expr: loaded.query(e), 15)  # type: ignore[misc]
        except AssertionError:
            empty.append(f"{rel} [{title}] {expr}")
    assert empty == []


def test_every_referenced_metric_is_exported_by_a_target(loaded: Stack) -> None:
    referenced: dict[str, str] = {}
    for rule in rendered_rules(loaded):
        for name in metric_names(str(rule["expr"])):
            referenced.setdefault(name, f"rule {rule['alert']}")
    for rel, title, expr in panel_queries(loaded):
        for name in metric_names(expr):
            referenced.setdefault(name, f"{rel} [{title}]")
    assert {"mlservice_requests_total", "mlgitops_drift_share"} <= set(referenced)
    reply = httpx.get(f"{loaded.url('prometheus')}/api/v1/label/__name__/values",
                      timeout=5).json()
    exported = set(reply["data"])
    missing = {name: where for name, where in referenced.items() if name not in exported}
    assert missing == {}


def test_every_target_of_the_stack_is_up(loaded: Stack) -> None:
    reply = httpx.get(f"{loaded.url('prometheus')}/api/v1/targets", timeout=5).json()
    health = {t["labels"]["job"]: t["health"] for t in reply["data"]["activeTargets"]}
    # MLflow's server is not part of this stack (inv up starts it); everything else is.
    health.pop("mlflow", None)
    assert health == {"mlservice-bankchurn": "up", "mlgitops-runner": "up",
                      "prometheus": "up", "alertmanager": "up"}
