"""``render_all(platform)``: every artifact of one environment, as relative path -> text.

A pure function of the ``Platform``: no clock, no environment variables, no file reads, services
in name order, so rendering twice gives byte-identical output and ``render --check`` can
compare a fresh render with what is committed under ``generated/<env>/``.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from runner.gc_pause import gc_paused
from runner.render.alert_rules import KINDS, AlertRule
from runner.render.alert_tests import Check, Series, TestGroup
from runner.render.context import (
    DASHBOARDS,
    ServiceView,
    note_text,
    platform_context,
    service_view,
    spec_sources,
)
from runner.render.grafana import dashboard, panel
from runner.render.template_env import TEMPLATES_DIR, Sandbox, environment, render_template
from runner.spec import models
from runner.spec.models import Platform

# (template, output path) rendered once per environment.
PLATFORM_FILES = (
    ("compose.yaml.j2", "compose.yaml"),
    ("prometheus/prometheus.yml.j2", "prometheus/prometheus.yml"),
    ("alertmanager/alertmanager.yml.j2", "alertmanager/alertmanager.yml"),
    ("grafana/provisioning/datasource.yaml.j2", "grafana/provisioning/datasources/prometheus.yaml"),
    ("grafana/provisioning/dashboards.yaml.j2", "grafana/provisioning/dashboards/mlgitops.yaml"),
)
# (template, output path with {name}) rendered once per service. Templates that share a
# path are one multi-document YAML stream, in this order: a service's Kubernetes objects are
# one file (`kubectl apply -f k8s/<name>.yaml`, as `helm template` writes them), which
# halves the files a fleet's render creates and checks (5 a service instead of 10).
SERVICE_FILES = (
    ("prometheus/rules.yml.j2", "prometheus/rules/{name}.yml"),
    ("prometheus/tests.yml.j2", "prometheus/tests/{name}.yml"),
    ("k8s/dashboards-configmap.yaml.j2", "k8s/{name}.yaml"),  # before the pods that mount it
    ("k8s/deployment.yaml.j2", "k8s/{name}.yaml"),
    ("k8s/service.yaml.j2", "k8s/{name}.yaml"),
    ("k8s/hpa.yaml.j2", "k8s/{name}.yaml"),
    ("k8s/pdb.yaml.j2", "k8s/{name}.yaml"),
    ("k8s/prometheusrule.yaml.j2", "k8s/{name}.yaml"),
    ("docker/Dockerfile.j2", "docker/{name}/Dockerfile"),  # the image; + its .dockerignore:
    ("docker/Dockerfile.dockerignore.j2", "docker/{name}/Dockerfile.dockerignore"),
)


def _plain_types() -> frozenset[type]:
    """Context data classes whose public attributes templates may read on the fast path."""
    spec_models = {
        value
        for value in vars(models).values()
        if isinstance(value, type) and issubclass(value, models.StrictModel)
    }
    return frozenset({ServiceView, AlertRule, TestGroup, Series, Check, *spec_models})


def _install_helpers() -> None:
    # Grafana boilerplate helpers are plain functions; the sandbox still guards attribute access.
    env = environment(str(TEMPLATES_DIR))
    env.globals.setdefault("panel", panel)
    env.globals.setdefault("dashboard", dashboard)
    if isinstance(env, Sandbox) and not env.plain_types:
        env.plain_types = _plain_types()


# Stands in for the service name while a service's dashboards are rendered (see below).
PLACEHOLDER = "@@mlgitops-service@@"


def _dashboards(
    base: dict[str, Any], service: str | None, thresholds: Any
) -> list[tuple[str, str]]:
    """The four dashboards: fleet-wide (service picker) or pinned to one service."""
    scope: dict[str, Any] = {"service": None, "uid_prefix": "mlgitops-", "title_suffix": ""}
    if service is not None:
        scope = {
            "service": service,
            "uid_prefix": f"{service}-",
            "title_suffix": f" ({service})",
            "note": note_text(spec_sources(base["env"], service)),
        }
    context = {**base, **scope, "thresholds": thresholds, "compact": service is not None}
    return [
        (f"{name}.json", render_template(f"grafana/dashboards/{name}.json.j2", context))
        for name in DASHBOARDS
    ]


class _ServiceDashboards:
    """Per-service dashboards, rendered once per distinct threshold table.

    A service's dashboards depend only on its name and thresholds, and fleets mostly share
    thresholds; so they are rendered with a placeholder name and the name substituted. This
    keeps 1,000 services within the render time budget (json.dumps dominated otherwise).
    """

    def __init__(self, base: dict[str, Any]) -> None:
        self.base = base
        self.cache: dict[tuple[tuple[float, ...], ...], list[tuple[str, str]]] = {}

    def __call__(self, svc: ServiceView) -> list[tuple[str, str]]:
        thresholds = svc.thresholds
        key = tuple(tuple(thresholds[kind]) for kind in KINDS)
        if key not in self.cache:
            self.cache[key] = _dashboards(self.base, PLACEHOLDER, thresholds)
        return [(name, text.replace(PLACEHOLDER, svc.name)) for name, text in self.cache[key]]


@dataclass
class Rendered:
    """One environment's artifacts: the fleet-wide files and each service's own files.

    A service's files depend only on its spec, the platform spec, the environment, the
    templates and this code (never on other services), which is what lets ``inv render``
    skip services whose inputs did not change (``runner.render.incremental``).
    """

    fleet: dict[str, str]
    services: dict[str, dict[str, str]]

    def files(self) -> dict[str, str]:
        out = dict(self.fleet)
        for files in self.services.values():
            out.update(files)
        return dict(sorted(out.items()))


def render_all(platform: Platform) -> dict[str, str]:
    """Render every artifact for ``platform.environment``; keys are paths under generated/<env>/."""
    return render_parts(platform).files()


def render_parts(platform: Platform, skip: Collection[str] = ()) -> Rendered:
    """Every artifact, grouped; the services named in ``skip`` are left out of ``services``
    (the fleet-wide files still list them)."""
    _install_helpers()
    with gc_paused():  # many small objects, nothing freed until the end
        return _render(platform, frozenset(skip))


def _render(platform: Platform, skip: frozenset[str]) -> Rendered:
    services = [service_view(platform, platform.services[key]) for key in sorted(platform.services)]
    base = platform_context(platform, services)
    fleet: dict[str, str] = {}
    for template, path in PLATFORM_FILES:
        fleet[path] = render_template(template, base)
    for name, text in _dashboards(base, None, dict.fromkeys(KINDS)):
        fleet[f"grafana/dashboards/{name}"] = text
    service_dashboards = _ServiceDashboards(base)
    per_service: dict[str, dict[str, str]] = {}
    for svc in services:
        if svc.name in skip:
            continue
        svc.dashboards = service_dashboards(svc)
        svc.rule_group = render_template("prometheus/group.yml.j2", {"svc": svc}).rstrip("\n")
        context = {**base, "svc": svc, "header": svc.header}
        files: dict[str, str] = {}
        for template, pattern in SERVICE_FILES:
            path, text = pattern.format(name=svc.name), render_template(template, context)
            files[path] = f"{files[path]}---\n{text}" if path in files else text
        per_service[svc.name] = files
    return Rendered(fleet, per_service)
