"""The alert rules and the post-deploy watch give the same verdict for the same counters.

Each scenario drives real service metrics (``runner.serving.metrics.ServiceMetrics``, what
a replica exports) from a "before" to an "after" state. The watch's side parses the two
/metrics texts and judges them with ``runner.slo`` exactly as ``runner.operations.watch``
does. The rules' side feeds the very same sample values, five minutes apart, to promtool
as input series of the rendered critical rules (``runner.render.alert_rules``) and expects an
alert exactly where the watch said "breached". One promtool run checks every scenario; the
verdicts are also pinned by hand, so both sides cannot drift together unnoticed.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from runner import contract, slo
from runner.render.alert_rules import AlertRule, service_alerts
from runner.serving.metrics import ServiceMetrics
from runner.spec import load_platform
from runner.spec.models import ServiceSpec

ROOT = Path(__file__).resolve().parents[2]
WINDOW_S = 300.0  # the rule's 5m window: the two samples sit on its edges
pytestmark = pytest.mark.integration

# An op: ("req", endpoint, status, count) or ("lat", endpoint, seconds, count).
Op = tuple[str, str, float | str, int]


@dataclass(frozen=True)
class Replica:
    before: tuple[Op, ...] = ()
    after: tuple[Op, ...] = ()  # added on top of ``before``, or from zero when ``restarted``
    restarted: bool = False


@dataclass(frozen=True)
class Scenario:
    title: str
    replicas: tuple[Replica, ...]
    error_fires: bool
    latency_fires: bool


def req(endpoint: str, status: str, n: int) -> Op:
    return ("req", endpoint, status, n)


def lat(endpoint: str, seconds: float, n: int) -> Op:
    return ("lat", endpoint, seconds, n)


OK_100 = (lat("/predict", 0.01, 100),)  # fast predictions, so only the error rate matters
SCENARIOS = (
    # Error rate, critical threshold 0.05. Counts are multiples of 300: integer rates, so
    # "at the threshold" is exactly 0.05 on both sides.
    Scenario("errors at the threshold fire", (Replica(after=(
        req("/predict", "200", 5700), req("/predict", "500", 300), *OK_100)),), True, False),
    Scenario("errors just below stay silent", (Replica(after=(
        req("/predict", "200", 5701), req("/predict", "500", 299), *OK_100)),), False, False),
    Scenario("probes and scrapes neither dilute nor inflate", (Replica(after=(
        req("/predict", "200", 5700), req("/predict", "500", 300),
        req("/health", "503", 30000), req("/metrics", "200", 60000), *OK_100)),), True, False),
    Scenario("failing health probes are not user errors", (Replica(after=(
        req("/predict", "200", 6000), req("/health", "503", 6000), *OK_100)),), False, False),
    Scenario("client errors (4xx) are not errors", (Replica(after=(
        req("/predict", "200", 3000), req("/predict", "422", 3000), *OK_100)),), False, False),
    Scenario("batch predictions count", (Replica(after=(
        req("/predict", "200", 5700), req("/predict_batch", "500", 300), *OK_100)),),
        True, False),
    Scenario("two replicas, one failing, summed", (
        Replica(after=(req("/predict", "200", 3000), req("/predict", "500", 0), *OK_100)),
        Replica(after=(req("/predict", "200", 2700), req("/predict", "500", 300))),
    ), True, False),
    Scenario("only the increase counts, not the history", (Replica(
        before=(req("/predict", "200", 1000), req("/predict", "500", 9000)),
        after=(req("/predict", "200", 6000), *OK_100)),), False, False),
    Scenario("a restarted replica counts from zero", (Replica(
        before=(req("/predict", "200", 9000), req("/predict", "500", 6000)),
        after=(req("/predict", "200", 5700), req("/predict", "500", 300), *OK_100),
        restarted=True),), True, False),
    # p99 latency, critical threshold 5 s (a bucket bound).
    Scenario("p99 exactly at the threshold fires", (Replica(after=(
        req("/predict", "200", 30000), lat("/predict", 3.0, 29700),
        lat("/predict", 20.0, 300))),), False, True),
    Scenario("p99 inside a lower bucket stays silent", (Replica(after=(
        req("/predict", "200", 300), lat("/predict", 3.0, 300))),), False, False),
    Scenario("slow scrapes do not count", (Replica(after=(
        req("/predict", "200", 300), lat("/predict", 0.01, 300),
        lat("/metrics", 20.0, 300))),), False, False),
    Scenario("slow batch predictions count", (Replica(after=(
        req("/predict", "200", 300), lat("/predict", 0.01, 270),
        lat("/predict_batch", 20.0, 30))),), False, True),
)


def apply_ops(metrics: ServiceMetrics, ops: tuple[Op, ...]) -> None:
    for what, endpoint, arg, n in ops:
        if what == "req":
            metrics.requests.labels(endpoint=endpoint, method="POST", status=str(arg)).inc(n)
        else:
            child = metrics.latency.labels(endpoint=endpoint)
            for _ in range(n):
                child.observe(float(arg))


def scrapes(scenario: Scenario) -> tuple[slo.Scrape, slo.Scrape]:
    """(before, after) as the watch reads them: one /metrics text per replica, merged."""
    before, after = [], []
    for i, replica in enumerate(scenario.replicas):
        metrics = ServiceMetrics((0.5, 1.0))
        apply_ops(metrics, replica.before)
        before.append(slo.parse(metrics.render().decode(), replica=str(i)))
        if replica.restarted:
            metrics = ServiceMetrics((0.5, 1.0))
        apply_ops(metrics, replica.after)
        after.append(slo.parse(metrics.render().decode(), replica=str(i)))
    return slo.merge(before), slo.merge(after)


def watch_verdicts(spec: ServiceSpec, before: slo.Scrape, after: slo.Scrape) -> dict[str, bool]:
    return {kind: slo.breached(slo.value(kind, before, after, WINDOW_S),
                               slo.threshold(spec, kind, "critical"))
            for kind in slo.WATCHED}


def _fmt(value: float) -> str:
    return slo.fmt_num(value)


def input_series(service: str, before: slo.Scrape, after: slo.Scrape) -> list[dict[str, str]]:
    """The same samples for promtool: value at 0 (before, 0 if absent) and at 5m (after)."""
    out = []
    for name, old, new in (
        (contract.REQUESTS_TOTAL, before.requests, after.requests),
        (f"{contract.REQUEST_DURATION}_bucket", before.buckets, after.buckets),
    ):
        for labels, value in new.items():
            sel = ",".join(f'{k}="{v}"' for k, v in (*labels, ("service", service)))
            out.append({"series": f"{name}{{{sel}}}",
                        "values": f"{_fmt(old.get(labels, 0.0))} {_fmt(value)}"})
    return out


def expected(rule: AlertRule) -> list[dict[str, object]]:
    return [{"exp_labels": rule.labels, "exp_annotations": rule.annotations}]


def test_watch_and_rules_agree_on_every_scenario(tmp_path: Path) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed (apt-get install prometheus)")
    data = load_platform(ROOT, "dev").services["bankchurn"].model_dump()
    for threshold in data["alerts"].values():
        threshold["for_s"] = 0  # the verdict at one instant, as the watch judges
    spec = ServiceSpec.model_validate(data)
    rules = {r.kind: r for r in service_alerts(spec)
             if r.severity == "critical" and r.kind in slo.WATCHED}
    (tmp_path / "rules.yml").write_text(yaml.safe_dump({"groups": [{
        "name": "slo", "rules": [{"alert": r.name, "expr": r.expr, "for": r.for_,
                                  "labels": r.labels, "annotations": r.annotations}
                                 for r in rules.values()],
    }]}))
    tests, wrong = [], []
    for scenario in SCENARIOS:
        before, after = scrapes(scenario)
        verdict = watch_verdicts(spec, before, after)
        pinned = {"error_rate": scenario.error_fires, "latency_p99_s": scenario.latency_fires}
        if verdict != pinned:
            wrong.append(f"{scenario.title}: watch says {verdict}, expected {pinned}")
        tests.append({
            "interval": "5m",
            "input_series": input_series(spec.name, before, after),
            "alert_rule_test": [
                {"eval_time": "5m", "alertname": rules[kind].name,
                 "exp_alerts": expected(rules[kind]) if verdict[kind] else []}
                for kind in slo.WATCHED
            ],
        })
    assert wrong == []
    (tmp_path / "tests.yml").write_text(yaml.safe_dump({
        "rule_files": ["rules.yml"], "evaluation_interval": "1m", "tests": tests}))
    proc = subprocess.run([promtool, "test", "rules", "tests.yml"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "SUCCESS" in proc.stdout
