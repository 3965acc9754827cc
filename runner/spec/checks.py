"""Rules that span fields or files: run after each document validated on its own.

Duplicate names and ports (between services, and against the platform's own ports),
file names matching ``name``, cron expressions, project paths that must exist, and the
environment named in the platform spec matching the overlay selected.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from runner.spec.models import PlatformSpec, ServiceSpec
from runner.spec.problems import Problems, field_path
from runner.spec.yamlpos import PathT, Pos

if TYPE_CHECKING:
    from runner.spec.loader import Doc


def _at(doc: Doc, path: PathT) -> Pos:
    return doc.pos.locate(path) or Pos(doc.file)


def _where(pos: Pos) -> str:
    return f"{pos.file}:{pos.line}" if pos.line else pos.file


def cron_problem(expr: str) -> str | None:
    """Why ``expr`` is not a valid 5-field cron expression, or None when it is."""
    from croniter import croniter  # imported lazily: only validation needs it

    if len(expr.split()) != 5:
        return f"cron expression '{expr}' must have 5 fields (minute hour day month weekday)"
    if not croniter.is_valid(expr):
        return f"invalid cron expression '{expr}'"
    return None


def platform_ports(platform: PlatformSpec) -> dict[int, PathT]:
    """Every port the platform itself listens on, with the field that sets it."""
    mon = platform.monitoring
    ports: dict[int, PathT] = {platform.mlflow.port: ("mlflow", "port")}
    for name in ("prometheus", "alertmanager", "exporter", "grafana"):
        listener = getattr(mon, name)
        ports.setdefault(listener.port, ("monitoring", name, "port"))
    return ports


def check_all(
    *,
    root: Path,
    env: str | None,
    platform: PlatformSpec | None,
    platform_doc: Doc | None,
    services: dict[str, ServiceSpec],
    service_docs: dict[str, Doc],
    problems: Problems,
) -> None:
    if platform is not None and platform_doc is not None:
        _check_platform(env, platform, platform_doc, problems)
    taken = platform_ports(platform) if platform is not None else {}
    names: dict[str, str] = {}
    ports: dict[int, str] = {}
    for stem, spec in sorted(services.items()):
        doc = service_docs[stem]
        if spec.name != stem:
            problems.add_at(
                _at(doc, ("name",)),
                ("name",),
                f"name '{spec.name}' does not match the file name '{stem}.yaml'",
            )
        if spec.name in names:
            problems.add_at(
                _at(doc, ("name",)),
                ("name",),
                f"duplicate service name '{spec.name}' (also in {names[spec.name]})",
            )
        names.setdefault(spec.name, doc.file)
        if spec.port in taken and platform_doc is not None:
            other = taken[spec.port]
            problems.add_at(
                _at(doc, ("port",)),
                ("port",),
                f"port {spec.port} is already used by the platform's {field_path(other)} "
                f"({_where(_at(platform_doc, other))})",
            )
        elif spec.port in ports:
            problems.add_at(
                _at(doc, ("port",)),
                ("port",),
                f"port {spec.port} is already used by service '{ports[spec.port]}'",
            )
        ports.setdefault(spec.port, spec.name)
        if not (root / spec.project).is_dir():
            problems.add_at(
                _at(doc, ("project",)),
                ("project",),
                f"project path '{spec.project}' does not exist",
            )
        why = cron_problem(spec.retrain.schedule)
        if why:
            problems.add_at(_at(doc, ("retrain", "schedule")), ("retrain", "schedule"), why)


def _check_platform(env: str | None, platform: PlatformSpec, doc: Doc, problems: Problems) -> None:
    if env is not None and platform.environment != env:
        problems.add_at(
            _at(doc, ("environment",)),
            ("environment",),
            f"environment is '{platform.environment}' but the '{env}' overlay was selected "
            f"(set platform.environment in specs/environments/{env}.yaml)",
        )
    seen_ports: dict[int, PathT] = {}
    for port, path in _all_platform_ports(platform):
        if port in seen_ports:
            problems.add_at(
                _at(doc, path),
                path,
                f"port {port} is already used by {field_path(seen_ports[port])}",
            )
        seen_ports.setdefault(port, path)
    for kind in ("windows", "freeze"):
        windows = getattr(platform.maintenance, kind)
        seen: set[str] = set()
        for index, window in enumerate(windows):
            base: PathT = ("maintenance", kind, index)
            why = cron_problem(window.cron)
            if why:
                problems.add_at(_at(doc, base + ("cron",)), base + ("cron",), why)
            if window.name in seen:
                problems.add_at(
                    _at(doc, base + ("name",)),
                    base + ("name",),
                    f"duplicate {kind} name '{window.name}'",
                )
            seen.add(window.name)
    sinks: set[str] = set()
    for index, sink in enumerate(platform.notifications):
        if sink.name in sinks:
            path = ("notifications", index, "name")
            problems.add_at(_at(doc, path), path, f"duplicate sink name '{sink.name}'")
        sinks.add(sink.name)


def _all_platform_ports(platform: PlatformSpec) -> list[tuple[int, PathT]]:
    mon = platform.monitoring
    out: list[tuple[int, PathT]] = [(platform.mlflow.port, ("mlflow", "port"))]
    for name in ("prometheus", "alertmanager", "exporter", "grafana"):
        out.append((getattr(mon, name).port, ("monitoring", name, "port")))
    return out
