"""What the templates see: plain values computed once from the typed ``Platform``.

Derived numbers (admin ports, probe periods, Kubernetes quantities, alert rules, promtool
scenarios) are computed here in Python, so templates stay declarative and every artifact
agrees on them. Metric names come only from ``runner.contract`` (as ``m.<name>``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from functools import cached_property
from pathlib import PurePosixPath
from typing import Any

from runner import contract
from runner.render.alert_rules import KINDS, AlertRule, fmt_duration, fmt_num, service_alerts
from runner.render.alert_tests import TestGroup, service_test_groups
from runner.spec.models import Platform, ServiceSpec

ADMIN_PORT_OFFSET = 1000  # admin port = public port + 1000 in compose and Kubernetes
NAMESPACE = "mlgitops"
IMAGES = {
    # Platform component images for the container runtimes (pinned, never :latest).
    "mlflow": "ghcr.io/mlflow/mlflow:v3.17.2",
    "prometheus": "prom/prometheus:v2.42.0",
    "alertmanager": "prom/alertmanager:v0.25.0",
    "grafana": "grafana/grafana:10.4.2",
}
DASHBOARDS = ("service-overview", "ml-metrics", "infrastructure", "business-kpis")


def metric_names() -> dict[str, str]:
    """``m.requests_total`` etc.: every metric constant of the contract, lower-cased."""
    return {
        key.lower(): value
        for key, value in vars(contract).items()
        if key.isupper() and isinstance(value, str) and not key.startswith("LABEL_")
    }


def header(sources: list[str], comment: str = "#") -> str:
    return f"{comment} Generated from {', '.join(sources)} by `inv render`; do not edit."


def note_text(sources: list[str]) -> str:
    return f"Generated from {', '.join(sources)} by `inv render`; do not edit."


@dataclass
class ServiceView:
    """One service as the templates see it."""

    spec: ServiceSpec
    sources: list[str]
    dashboards: list[tuple[str, str]] = field(default_factory=list)
    rule_group: str = ""  # the service's Prometheus rule group, rendered once

    # Computed on first use: a re-render that reuses a service's files (and the fleet-wide
    # files, which do not read these) never pays for its alert rules and promtool tests.
    @cached_property
    def alerts(self) -> list[AlertRule]:
        return service_alerts(self.spec)

    @cached_property
    def test_groups(self) -> list[TestGroup]:
        return service_test_groups(self.spec, self.alerts)

    def __post_init__(self) -> None:
        # Spec fields (name, port, image, model, health, resources...) as the view's own
        # attributes, except the names the view defines itself (``alerts``): ``__getattr__``
        # is reached only after a failed lookup, an exception each time, which was a third
        # of compose.yaml's render at 1,000 services.
        self.__dict__.update({k: v for k, v in self.spec.__dict__.items()
                              if k not in VIEW_NAMES})

    def __getattr__(self, name: str) -> Any:
        # The rest of the spec (its properties) reads straight through.
        return getattr(self.spec, name)

    @property
    def header(self) -> str:
        return header(self.sources)

    @property
    def note(self) -> str:
        return note_text(self.sources)

    @property
    def camel(self) -> str:
        return "".join(p[:1].upper() + p[1:] for p in self.spec.name.split("-"))

    @property
    def job(self) -> str:
        return f"mlservice-{self.spec.name}"

    @property
    def admin_port(self) -> int:
        return self.spec.port + ADMIN_PORT_OFFSET

    @property
    def healthcheck(self) -> list[str]:
        url = f"http://127.0.0.1:{self.admin_port}{self.spec.health.path}"
        timeout = f"{self.spec.health.timeout_s:g}"
        code = f"import urllib.request; urllib.request.urlopen({url!r}, timeout={timeout})"
        return ["CMD", "python3", "-c", code]

    @property
    def health_interval(self) -> str:
        return f"{max(1, math.ceil(self.spec.health.interval_s))}s"

    @property
    def health_timeout(self) -> str:
        return f"{max(1, math.ceil(self.spec.health.timeout_s))}s"

    @property
    def start_period_s(self) -> int:
        # The same grace the deploy gate gives a starting replica (ReplicaSpec.start_budget_s
        # adds retries * interval, as the container's health check counts them after it).
        return self.spec.health.start_period_s

    @property
    def start_period(self) -> str:
        return f"{self.start_period_s}s"

    @property
    def probe_period_s(self) -> int:
        return max(1, math.ceil(self.spec.health.interval_s))

    @property
    def startup_failure_threshold(self) -> int:
        # The deploy gate's whole start budget (start period, then retries x interval) in
        # probe periods, so the kubelet gives a pod as long as the other runtimes do.
        health = self.spec.health
        budget = health.start_period_s + health.retries * health.interval_s
        return max(1, math.ceil(budget / self.probe_period_s))

    @property
    def liveness_period_s(self) -> int:
        return max(10, self.probe_period_s)

    @property
    def probe_timeout_s(self) -> int:
        return max(1, math.ceil(self.spec.health.timeout_s))

    @property
    def cpus(self) -> str:
        return fmt_num(self.spec.resources.cpu)

    @property
    def cpu_reservation(self) -> str:
        # Swarm: what a node must have free for one task; a quarter of the limit, so a
        # start-first update (old and new task at once) still fits on a small node.
        return fmt_num(max(0.01, round(self.spec.resources.cpu / 4, 2)))

    @property
    def memory_reservation_mb(self) -> int:
        return max(16, self.spec.resources.memory_mb // 4)

    @property
    def cpu_millis(self) -> str:
        return f"{round(self.spec.resources.cpu * 1000)}m"

    @property
    def memory_mi(self) -> str:
        return f"{self.spec.resources.memory_mb}Mi"

    @property
    def max_replicas(self) -> int:
        """The HPA's ceiling: the spec's ``scaling.max`` when it sets one (the capacity plan
        on call may not exceed), else room for three times the desired replicas."""
        scaling = self.spec.scaling
        if "max" in scaling.model_fields_set:
            return scaling.max
        return min(scaling.max, max(self.spec.replicas + 2, self.spec.replicas * 3))

    @property
    def hpa_cpu_percent(self) -> int:
        return max(10, min(100, round(self.spec.alerts.cpu.warning * 100)))

    @property
    def k8s_selector(self) -> dict[str, str]:
        return {"app.kubernetes.io/name": self.spec.name}

    @property
    def k8s_labels(self) -> dict[str, str]:
        return {
            "app.kubernetes.io/name": self.spec.name,
            "app.kubernetes.io/part-of": "mlgitops",
            "app.kubernetes.io/managed-by": "mlgitops-render",
            "mlgitops/model-version": str(self.spec.model.version),
        }

    @property
    def k8s_dashboard_labels(self) -> dict[str, str]:
        return {**self.k8s_labels, "grafana_dashboard": "1"}

    @property
    def thresholds(self) -> dict[str, list[float]]:
        alerts = self.spec.alerts
        return {
            kind: [getattr(alerts, kind).warning, getattr(alerts, kind).critical] for kind in KINDS
        }


def spec_sources(env: str, service: str | None = None) -> list[str]:
    first = f"specs/services/{service}.yaml" if service else "specs/services/*.yaml"
    return [first, "specs/platform.yaml", f"specs/environments/{env}.yaml"]


# What ServiceView defines itself (fields, properties, methods): spec fields never shadow it.
VIEW_NAMES = frozenset(dir(ServiceView)) | {f.name for f in fields(ServiceView)}


def service_view(platform: Platform, service: ServiceSpec) -> ServiceView:
    return ServiceView(spec=service, sources=spec_sources(platform.environment, service.name))


def platform_context(platform: Platform, services: list[ServiceView]) -> dict[str, Any]:
    """The context shared by every template; per-service templates add ``svc``."""
    spec = platform.platform
    state_dir = PurePosixPath(spec.state_dir)
    # compose.yaml sits in generated/<env>/: a relative state dir is two levels up.
    compose_state = state_dir if state_dir.is_absolute() else PurePosixPath("../..") / state_dir
    monitoring = spec.monitoring
    mlflow_url = f"http://{spec.mlflow.host}:{spec.mlflow.port}"
    return {
        "env": platform.environment,
        "platform": spec,
        "monitoring": monitoring,
        "services": services,
        "m": metric_names(),
        "images": IMAGES,
        "namespace": NAMESPACE,
        "mlflow_url": mlflow_url,
        "mlflow_healthcheck": [
            "CMD",
            "python3",
            "-c",
            f"import urllib.request; urllib.request.urlopen({mlflow_url + '/health'!r}, timeout=2)",
        ],
        "k8s_mlflow_url": f"http://mlflow.{NAMESPACE}.svc:{spec.mlflow.port}",
        "state_dir": str(compose_state),
        "grafana_secret": monitoring.grafana.admin_password,
        "watch": fmt_duration(spec.post_deploy_watch_s),
        "webhook_url": f"http://{monitoring.exporter.host}:{monitoring.exporter.port}/alerts",
        "header": header(spec_sources(platform.environment)),
        "note": note_text(spec_sources(platform.environment)),
    }
