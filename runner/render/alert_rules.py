"""The alert rules of one service, built from its threshold table and the metric contract.

One place defines every alert: its name, PromQL expression, labels and annotations. The
Prometheus rule files, the Kubernetes PrometheusRule and the promtool unit tests are all
rendered from these objects, so a threshold edited in a spec changes all three at once.

Alert names are ``<Service><Kind><Severity>`` (``BankchurnErrorRateCritical``): unique across
the fleet, readable in Alertmanager, and valid Prometheus metric names. Every alert also
carries ``service``, ``kind`` (the threshold key, as used by ``alert_actions``) and
``severity`` labels, so the runner's webhook never has to parse names.
"""

from __future__ import annotations

from dataclasses import dataclass

from runner import slo
from runner.slo import MIB, fmt_num
from runner.spec.models import ServiceSpec, Threshold

KINDS = ("error_rate", "latency_p99_s", "cpu", "memory", "drift_share")
SEVERITIES = ("warning", "critical")

# CamelCase fragment of the alert name, human title, runbook anchor per kind.
KIND_INFO: dict[str, tuple[str, str, str]] = {
    "error_rate": ("ErrorRate", "error rate", "error-rate"),
    "latency_p99_s": ("LatencyP99", "p99 latency", "latency-p99"),
    "cpu": ("Cpu", "CPU use of its limit", "cpu"),
    "memory": ("Memory", "memory use of its limit", "memory"),
    "drift_share": ("DriftShare", "drifted column share", "drift-share"),
}
RUNBOOK = "docs/runbook.md"
__all__ = ["MIB", "AlertRule", "fmt_num", "service_alerts", "value_expr"]  # fmt_num: render.context


def fmt_duration(seconds: int) -> str:
    """Prometheus duration text: 60 -> '1m', 90 -> '90s', 0 -> '0s'."""
    if seconds and seconds % 3600 == 0:
        return f"{seconds // 3600}h"
    if seconds and seconds % 60 == 0:
        return f"{seconds // 60}m"
    return f"{seconds}s"


def camel(name: str) -> str:
    """'bank-churn' -> 'BankChurn'; keeps alert names valid Prometheus identifiers."""
    return "".join(part[:1].upper() + part[1:] for part in name.split("-"))


def fmt_threshold(kind: str, value: float) -> str:
    """Human text for annotations: ratios as percentages, latency in seconds."""
    if kind == "latency_p99_s":
        return f"{value:g}s"
    return f"{value * 100:g}%"


def value_expr(kind: str, service: ServiceSpec) -> str:
    """The PromQL whose value is compared with the thresholds (defined in ``runner.slo``)."""
    return slo.expr(kind, service)


@dataclass(frozen=True)
class AlertRule:
    """One Prometheus alerting rule, ready for the templates."""

    name: str
    service: str
    kind: str
    severity: str
    threshold: float
    expr: str
    for_: str
    summary: str
    runbook: str

    @property
    def labels(self) -> dict[str, str]:
        return {"kind": self.kind, "service": self.service, "severity": self.severity}

    @property
    def annotations(self) -> dict[str, str]:
        return {"runbook": self.runbook, "summary": self.summary}


def threshold_of(service: ServiceSpec, kind: str) -> Threshold:
    threshold: Threshold = getattr(service.alerts, kind)
    return threshold


def service_alerts(service: ServiceSpec) -> list[AlertRule]:
    """Warning and critical rule for each threshold kind, in a stable order."""
    rules = []
    for kind in KINDS:
        threshold = threshold_of(service, kind)
        fragment, title, anchor = KIND_INFO[kind]
        base = value_expr(kind, service)
        for severity in SEVERITIES:
            limit = slo.threshold(service, kind, severity)
            rules.append(
                AlertRule(
                    name=f"{camel(service.name)}{fragment}{severity.capitalize()}",
                    service=service.name,
                    kind=kind,
                    severity=severity,
                    threshold=limit,
                    expr=slo.condition(base, limit),
                    for_=fmt_duration(threshold.for_s),
                    summary=(
                        f"{service.name} {title} at or above "
                        f"{fmt_threshold(kind, limit)} ({severity})"
                    ),
                    runbook=f"{RUNBOOK}#{anchor}",
                )
            )
    return rules
