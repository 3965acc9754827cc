"""Monitoring live: an error-rate alert right after a deploy rolls that deploy back.

The whole loop with real parts: a git repo with the real specs and playbooks (bankchurn
only), real models v1 and v2 in a sqlite registry, two reconciles (v1, then v2) through the
local runtime, and the monitoring stack (rendered configs, Prometheus scraping the
runtime's file_sd targets, Alertmanager, the monitor) on free ports. With 10% of v2's
predictions forced to fail, ``BankchurnErrorRateCritical`` fires inside the spec's
post-deploy window, the monitor starts ``playbooks/rollback.yaml`` once in the background,
the rollback pins v1 in the spec, commits it and switches, and the alert resolves once the
fault is gone with the faulty replica. The alert is also in the audit log and `inv alerts`.

The same stack then answers for the rendered files: every alert rule evaluates without
error, every dashboard panel's query returns data, every metric name the rules and
dashboards reference is exported by some target, every target is up. The checks walk the
rendered files, so a new panel or rule is covered without touching this test.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml
from monitoring_stack import Stack, fast_platform, have_binaries, wait_for
from reconcile_fixtures import (
    Load,
    git,
    make_repo,
    model_version,
    register_models,
    sample_body,
    set_version,
)

from runner.commands.converge import reconcile_command
from runner.monitor import audit_access as store
from runner.operations.workspace import open_env
from runner.render.artifacts import render_all

pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.skipif(not have_binaries(), reason="prometheus/alertmanager not installed"),
]
ALERT = "BankchurnErrorRateCritical"
JSON = {"Content-Type": "application/json"}
ENV_KEYS = ("MLGITOPS_ROOT", "MLGITOPS_STATE_DIR", "MLFLOW_TRACKING_URI", "MLGITOPS_FAULT_ENABLE")


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Stack, int]]:
    from monitoring_stack import free_port

    tmp = tmp_path_factory.mktemp("monitoring-rollback")
    port = free_port()
    root = make_repo(tmp, port=port)
    state = tmp / "state"
    uri = register_models(state)
    saved = {k: os.environ.get(k) for k in ENV_KEYS}
    # Replicas inherit the runner's environment: the fault switch exists (off) in each.
    os.environ.update(MLGITOPS_ROOT=str(root), MLGITOPS_STATE_DIR=str(state),
                      MLFLOW_TRACKING_URI=uri, MLGITOPS_FAULT_ENABLE="1")
    stack = Stack(fast_platform(root, spec_root=root), tmp, state)
    try:
        assert reconcile_command() == 0
        set_version(root, 2)
        assert reconcile_command() == 0
        assert model_version(port) == "2"
        stack.files = render_all(stack.platform)
        stack.write_configs(stack.files)
        stack.start_monitor()
        stack.start_alertmanager()
        stack.start_prometheus()
        yield stack, port
    finally:
        stack.stop()
        open_env(root, quiet=True).runtime.remove("bankchurn")
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _admin(stack: Stack) -> str:
    (fact,) = open_env(Path(stack.platform.root), quiet=True).runtime.facts(
        ["bankchurn"])["bankchurn"]
    return f"http://127.0.0.1:{fact.admin_port}"


def test_error_rate_after_a_deploy_rolls_it_back(deployed: tuple[Stack, int]) -> None:
    stack, port = deployed
    root = Path(stack.platform.root)
    wait_for("bankchurn up in Prometheus", lambda: stack.target_up("mlservice-bankchurn"),
             30, stack.logs)
    fault = httpx.post(f"{_admin(stack)}/_fault", json={"error_rate": 0.1, "duration_s": 300},
                       timeout=5)
    assert fault.status_code == 200
    with Load(port, sample_body(), rate=20) as load:
        firing = wait_for(f"{ALERT} firing in Prometheus", lambda: [
            a for a in stack.prom_alerts()
            if a["labels"]["alertname"] == ALERT and a["state"] == "firing"
        ], 90, stack.logs)
        assert firing[0]["labels"]["service"] == "bankchurn"
        wait_for(f"{ALERT} at the webhook", lambda: stack.received(ALERT, "firing"), 60,
                 stack.logs)
        shown = stack.inv_alerts()  # may race the resolution on a fast machine: checked below
        wait_for("the rollback to finish", lambda: store.events(
            store.PROCEDURE_FINISHED, state=stack.state), 120, stack.logs)
        wait_for(f"{ALERT} resolved", lambda: stack.received(ALERT, "resolved"), 120,
                 stack.logs)
    assert load.sent > 0
    assert shown[ALERT]["service"] == "bankchurn"
    assert shown[ALERT]["runbook"] == "docs/runbook.md#error-rate"
    started = store.events(store.PROCEDURE_STARTED, state=stack.state)
    assert [(e["service"], e["detail"]["playbook"], e["detail"]["vars"]["revision"])
            for e in started] == [("bankchurn", "rollback", "2")]
    (finished,) = store.events(store.PROCEDURE_FINISHED, state=stack.state)
    assert finished["outcome"] == "success", finished["detail"]["summary"]
    # GitOps: the spec pins v1 again, committed with the alert as the reason.
    assert model_version(port) == "1"
    assert "  version: 1\n" in (root / "specs" / "services" / "bankchurn.yaml").read_text()
    message = git(root, "log", "-1", "--format=%s")
    assert message.startswith("rollback bankchurn to model v1") and ALERT in message
    assert git(root, "status", "--porcelain") == ""
    received = store.events(store.ALERT_RECEIVED, state=stack.state)
    assert {(e["detail"]["alert"], e["outcome"]) for e in received} >= {
        (ALERT, "firing"), (ALERT, "resolved")}


# ------------------------------------------------------------ the rendered files, live

GRAFANA_VARS = {"$service": ".+", "$__rate_interval": "1m", "$__interval": "15s",
                "$__range": "1h"}
PROMQL_WORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and",
                "or", "unless", "offset", "inf", "nan"}


@pytest.fixture(scope="module")
def loaded(deployed: tuple[Stack, int]) -> Stack:
    """The stack after a short load: some failed and many good predictions, scraped."""
    stack, port = deployed
    admin = _admin(stack)
    url = f"http://127.0.0.1:{port}/predict"
    errors = 'sum(mlservice_requests_total{status=~"5.."})'
    body = sample_body()
    with httpx.Client(timeout=5) as client:
        if not stack.query(errors):  # the rollback test did not run first
            client.post(f"{admin}/_fault", json={"error_rate": 0.3, "duration_s": 30})
            while not any(client.post(url, content=body, headers=JSON).status_code == 500
                          for _ in range(10)):
                pass
            client.post(f"{admin}/_fault", json={"error_rate": 0.0, "duration_s": 1})
        for _ in range(20):
            client.post(url, content=body, headers=JSON)
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
    assert len(rules) == len(loaded.platform.services) * 5 * 2  # kinds x (warning, critical)
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
