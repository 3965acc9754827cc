"""``render_all(platform)``: every artifact of one environment, as relative path -> text.

A pure function of the ``Platform``: no clock, no environment variables, no file reads, services
in name order, so rendering twice gives byte-identical output and ``render --check`` can
compare a fresh render with what is committed under ``generated/<env>/``.
"""

from __future__ import annotations

from typing import Any

from runner.render.alerts import KINDS
from runner.render.context import DASHBOARDS, ServiceView, platform_context, service_view
from runner.render.engine import TEMPLATES_DIR, environment, render_template
from runner.render.grafana import dashboard, panel
from runner.spec.models import Platform

# (template, output path) rendered once per environment.
PLATFORM_FILES = (
    ("compose.yaml.j2", "compose.yaml"),
    ("prometheus/prometheus.yml.j2", "prometheus/prometheus.yml"),
    ("alertmanager/alertmanager.yml.j2", "alertmanager/alertmanager.yml"),
    ("grafana/provisioning/datasource.yaml.j2", "grafana/provisioning/datasources/prometheus.yaml"),
    ("grafana/provisioning/dashboards.yaml.j2", "grafana/provisioning/dashboards/mlgitops.yaml"),
)
# (template, output path with {name}) rendered once per service.
SERVICE_FILES = (
    ("prometheus/rules.yml.j2", "prometheus/rules/{name}.yml"),
    ("prometheus/tests.yml.j2", "prometheus/tests/{name}.yml"),
    ("k8s/deployment.yaml.j2", "k8s/{name}/deployment.yaml"),
    ("k8s/service.yaml.j2", "k8s/{name}/service.yaml"),
    ("k8s/hpa.yaml.j2", "k8s/{name}/hpa.yaml"),
    ("k8s/pdb.yaml.j2", "k8s/{name}/pdb.yaml"),
    ("k8s/prometheusrule.yaml.j2", "k8s/{name}/prometheusrule.yaml"),
    ("k8s/dashboards-configmap.yaml.j2", "k8s/{name}/dashboards-configmap.yaml"),
)


def _install_helpers() -> None:
    # Grafana boilerplate helpers are plain functions; the sandbox still guards attribute access.
    env = environment(str(TEMPLATES_DIR))
    env.globals.setdefault("panel", panel)
    env.globals.setdefault("dashboard", dashboard)


def _dashboards(base: dict[str, Any], svc: ServiceView | None) -> list[tuple[str, str]]:
    """The four dashboards: fleet-wide (service picker) or pinned to one service."""
    scope: dict[str, Any]
    if svc is None:
        scope = {
            "service": None,
            "uid_prefix": "mlgitops-",
            "title_suffix": "",
            "thresholds": dict.fromkeys(KINDS),
        }
    else:
        scope = {
            "service": svc.name,
            "uid_prefix": f"{svc.name}-",
            "title_suffix": f" ({svc.name})",
            "thresholds": svc.thresholds,
            "note": svc.note,
        }
    context = {**base, **scope}
    return [
        (f"{name}.json", render_template(f"grafana/dashboards/{name}.json.j2", context))
        for name in DASHBOARDS
    ]


def render_all(platform: Platform) -> dict[str, str]:
    """Render every artifact for ``platform.environment``; keys are paths under generated/<env>/."""
    _install_helpers()
    services = [service_view(platform, platform.services[key]) for key in sorted(platform.services)]
    base = platform_context(platform, services)
    files: dict[str, str] = {}
    for template, path in PLATFORM_FILES:
        files[path] = render_template(template, base)
    for name, text in _dashboards(base, None):
        files[f"grafana/dashboards/{name}"] = text
    for svc in services:
        svc.dashboards = _dashboards(base, svc)
        context = {**base, "svc": svc, "header": svc.header}
        for template, pattern in SERVICE_FILES:
            files[pattern.format(name=svc.name)] = render_template(template, context)
    return dict(sorted(files.items()))
