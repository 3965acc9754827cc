"""Every metric the rendered rules and dashboards query is a name in runner/contract.py.

The PromQL is parsed for identifiers (strings, label matchers, ranges and grouping clauses
removed; functions and keywords dropped), so a metric typed straight into a template, or a
renamed contract constant that a template still spells the old way, fails here.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from runner import contract
from runner.render import render_all
from runner.spec import load_platform

ROOT = Path(__file__).resolve().parents[2]
HISTOGRAMS = {contract.REQUEST_DURATION, contract.PREDICTION_VALUE, contract.APPLY_DURATION}
KNOWN = set(contract.SERVICE_METRICS) | set(contract.RUNNER_METRICS)
KEYWORDS = {"and", "or", "unless", "bool", "offset", "inf", "nan", "group_left", "group_right"}
GROUPING = r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)"


def metric_names(expr: str) -> set[str]:
    """Metric names referenced by one PromQL expression (histogram series map to their base)."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # string literals (label values, $service)
    text = re.sub(r"\{[^}]*\}", " ", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", " ", text)  # ranges
    text = re.sub(GROUPING, " ", text)  # label lists of by/without/on/ignoring
    names = set()
    for match in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", text):
        before = text[match.start() - 1] if match.start() else " "
        if before.isdigit() or before == ".":  # exponent of a number literal: 1e-05
            continue
        if text[match.end() :].lstrip().startswith("("):  # function or aggregation
            continue
        token = match.group()
        if token.lower() in KEYWORDS:
            continue
        names.add(_base(token))
    return names


def _base(name: str) -> str:
    for suffix in ("_bucket", "_sum", "_count"):
        if name.endswith(suffix) and name[: -len(suffix)] in HISTOGRAMS:
            return name[: -len(suffix)]
    return name


def test_parser_finds_metrics_and_nothing_else() -> None:
    expr = (
        "histogram_quantile(0.99, sum by (le) (rate(mlservice_request_duration_seconds_bucket"
        '{service="a",le=~"1e-05|+Inf"}[5m]))) / on(service) group_left max without (x) '
        "(foo_total offset 5m) >= 1e-05 and bool bar"
    )
    assert metric_names(expr) == {contract.REQUEST_DURATION, "foo_total", "bar"}
    assert metric_names("label_values(mlservice_requests_total, service)") == {
        contract.REQUESTS_TOTAL,
        "service",
    }


@pytest.fixture(scope="module")
def files() -> dict[str, str]:
    return render_all(load_platform(ROOT, "dev"))


def _rule_exprs(files: dict[str, str]) -> list[str]:
    exprs = []
    for path, text in files.items():
        if path.startswith("prometheus/rules/"):
            for group in yaml.safe_load(text)["groups"]:
                exprs += [rule["expr"] for rule in group["rules"]]
    return exprs


def _dashboard_models(files: dict[str, str]) -> list[dict]:
    models = [json.loads(t) for p, t in files.items() if p.startswith("grafana/dashboards/")]
    for path, text in files.items():
        if path.startswith("k8s/"):  # a service's objects; its dashboards are in the ConfigMap
            for obj in yaml.safe_load_all(text):
                if obj["kind"] == "ConfigMap":
                    models += [json.loads(doc) for doc in obj["data"].values()]
    return models


def test_rule_metrics_are_in_the_contract(files: dict[str, str]) -> None:
    exprs = _rule_exprs(files)
    assert len(exprs) == 30
    used = set().union(*(metric_names(e) for e in exprs))
    assert used <= KNOWN, used - KNOWN
    # Every threshold kind reads its contract metric.
    assert {
        contract.REQUESTS_TOTAL,
        contract.REQUEST_DURATION,
        contract.PROCESS_CPU,
        contract.PROCESS_MEMORY,
        contract.DRIFT_SHARE,
    } == used


def test_dashboard_metrics_are_in_the_contract(files: dict[str, str]) -> None:
    models = _dashboard_models(files)
    assert len(models) == 4 + 4 * 3
    used: set[str] = set()
    for model in models:
        for panel in model["panels"]:
            for target in panel["targets"]:
                used |= metric_names(target["expr"])
        for variable in model["templating"]["list"]:
            if variable["type"] == "query":
                used |= metric_names(variable["definition"]) - {"service"}
    assert used <= KNOWN, used - KNOWN
    # The dashboards show the service metrics and the drift / model version gauges.
    assert used >= set(contract.SERVICE_METRICS) | {
        contract.DRIFT_SHARE,
        contract.SERVICE_MODEL_VERSION,
    }


def test_templates_spell_no_metric_name_themselves() -> None:
    """Metric names reach templates only as variables (``m.<name>``) from the contract."""
    offenders = []
    for path in sorted((ROOT / "templates").rglob("*.j2")):
        text = path.read_text()
        offenders += [f"{path.name}: {name}" for name in sorted(KNOWN) if name in text]
        offenders += [
            f"{path.name}: {m}" for m in re.findall(r"\b(?:mlservice|mlgitops)_\w+", text)
        ]
    assert offenders == []
