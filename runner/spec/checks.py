"""Rules that span fields or files, run on the merged documents.

Duplicate names and ports (between services, and against the platform's own ports),
file names matching ``name``, cron expressions, project paths that must exist, and the
environment named in the platform spec matching the overlay selected.

They read the raw merged data rather than validated models so that a service with a
type error elsewhere still gets these checks: one run reports every problem.
Values of the wrong type are skipped here; pydantic already reports them.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runner.spec.models import inside
from runner.spec.problems import Problems, field_path
from runner.spec.spec_yaml import PathT, Pos

if TYPE_CHECKING:
    from runner.spec.spec_loader import Doc

# Defaults mirror runner.spec.models; used when platform.yaml leaves a port out.
PLATFORM_PORTS: tuple[tuple[PathT, int], ...] = (
    (("mlflow", "port"), 5000),
    (("monitoring", "prometheus", "port"), 9090),
    (("monitoring", "alertmanager", "port"), 9093),
    (("monitoring", "exporter", "port"), 9108),
    (("monitoring", "grafana", "port"), 3000),
)


def _get(data: Any, path: PathT) -> Any:
    for part in path:
        if isinstance(data, dict) and part in data:
            data = data[part]
        elif isinstance(data, list) and isinstance(part, int) and part < len(data):
            data = data[part]
        else:
            return None
    return data


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _at(doc: Doc, path: PathT) -> Pos:
    return doc.pos.locate(path) or Pos(doc.file, 1, 1)


def _where(pos: Pos) -> str:
    return f"{pos.file}:{pos.line}" if pos.line else pos.file


@lru_cache(maxsize=256)
def cron_problem(expr: str) -> str | None:
    """Why ``expr`` is not a valid 5-field cron expression, or None when it is. Cached:
    fleets share a few schedules, and croniter takes 0.3 ms per check."""
    from croniter import croniter  # imported lazily: only validation needs it

    if len(expr.split()) != 5:
        return f"cron expression '{expr}' must have 5 fields (minute hour day month weekday)"
    if not croniter.is_valid(expr):
        return f"invalid cron expression '{expr}'"
    return None


CronCheck = Callable[[str], "str | None"]


def _check_cron(doc: Doc, path: PathT, problems: Problems, cron: CronCheck) -> None:
    expr = _get(doc.data, path)
    if isinstance(expr, str):
        why = cron(expr)
        if why:
            problems.add_at(_at(doc, path), path, why)


def check_all(
    *,
    root: Path,
    env: str | None,
    platform_doc: Doc | None,
    service_docs: dict[str, Doc],
    problems: Problems,
    cron: CronCheck = cron_problem,
) -> None:
    """Report every cross-field and cross-file problem into ``problems``. ``cron``: what
    judges a cron expression (``cron_problem``, or a cache of its verdicts)."""
    taken: dict[int, PathT] = {}
    if platform_doc is not None:
        taken = _check_platform(env, platform_doc, problems, cron)
    names: dict[str, str] = {}
    ports: dict[int, str] = {}
    for stem, doc in sorted(service_docs.items()):
        name = _get(doc.data, ("name",))
        if isinstance(name, str):
            if name != stem:
                problems.add_at(
                    _at(doc, ("name",)),
                    ("name",),
                    f"name '{name}' does not match the file name '{stem}.yaml'",
                )
            if name in names:
                problems.add_at(
                    _at(doc, ("name",)),
                    ("name",),
                    f"duplicate service name '{name}' (also in {names[name]})",
                )
            names.setdefault(name, doc.file)
        port = _int(_get(doc.data, ("port",)))
        if port is not None and platform_doc is not None and port in taken:
            other = taken[port]
            problems.add_at(
                _at(doc, ("port",)),
                ("port",),
                f"port {port} is already used by the platform's {field_path(other)} "
                f"({_where(_at(platform_doc, other))})",
            )
        elif port is not None and port in ports:
            problems.add_at(
                _at(doc, ("port",)),
                ("port",),
                f"port {port} is already used by service '{ports[port]}'",
            )
        if port is not None:
            ports.setdefault(port, name if isinstance(name, str) else stem)
        _check_project(root, doc, problems)
        _check_cron(doc, ("retrain", "schedule"), problems, cron)


def _walk(root: Path, rel: str) -> tuple[int | None, bool]:
    """(mode of ``root/rel`` or None when absent, whether a symbolic link is on the way), by
    one ``lstat`` per component below ``root``. At 1,000 services ``Path.resolve`` of every
    project and smoke request was half the time of ``inv validate``; links are rare, and
    only then does the caller resolve. A name the file system refuses (ENAMETOOLONG, found
    by fuzzing) counts as absent."""
    path, mode = str(root), None
    for part in rel.replace("\\", "/").split("/"):
        if part in ("", "."):
            continue
        path = f"{path}/{part}"
        try:
            mode = os.lstat(path).st_mode
        except (OSError, ValueError):
            return None, False
        if stat.S_ISLNK(mode):
            return None, True
    return mode, False


def _resolved(root: Path, project: str, rel: str) -> tuple[bool, bool, bool]:
    """(inside the project, a file, a directory) of ``root/project/rel``, following links:
    the exact, slower way, for paths with a link on the way."""
    base, path = root / project, root / project / rel
    try:
        return path.resolve().is_relative_to(base.resolve()), path.is_file(), path.is_dir()
    except (OSError, ValueError):
        return True, False, False


def _check_project(root: Path, doc: Doc, problems: Problems) -> None:
    """The project directory must exist, and the smoke request deploys will send in it."""
    project = _get(doc.data, ("project",))
    if not isinstance(project, str) or not inside(project):
        return  # absent or outside the repository: the model reports it
    mode, linked = _walk(root, project)
    is_dir = _resolved(root, project, ".")[2] if linked else (
        mode is not None and stat.S_ISDIR(mode))
    if not is_dir:
        problems.add_at(
            _at(doc, ("project",)), ("project",), f"project path '{project}' does not exist"
        )
        return
    smoke = _get(doc.data, ("smoke_request",))
    if smoke is None:
        smoke = "tests/fixtures/sample_request.json"  # the model's default
    if not isinstance(smoke, str) or not inside(smoke):
        return  # the model reports a path that leaves the project
    path: PathT = ("smoke_request",) if "smoke_request" in doc.data else ("project",)
    mode, linked_below = _walk(root / project, smoke)
    if linked or linked_below:
        inside_project, present, _ = _resolved(root, project, smoke)
    else:
        inside_project, present = True, mode is not None and stat.S_ISREG(mode)
    if not inside_project:
        # A symbolic link out of the project: deploys would send whatever it points at.
        problems.add_at(_at(doc, path), path,
                        f"smoke request '{project}/{smoke}' resolves outside the project")
    elif not present:
        problems.add_at(_at(doc, path), path, f"smoke request '{project}/{smoke}' does not exist")


def _check_platform(env: str | None, doc: Doc, problems: Problems,
                    cron: CronCheck) -> dict[int, PathT]:
    """Platform-only rules; returns the platform's ports with the field that sets each."""
    environment = _get(doc.data, ("environment",))
    if env is not None and isinstance(environment, str) and environment != env:
        problems.add_at(
            _at(doc, ("environment",)),
            ("environment",),
            f"environment is '{environment}' but the '{env}' overlay was selected "
            f"(set platform.environment in specs/environments/{env}.yaml)",
        )
    taken: dict[int, PathT] = {}
    for path, default in PLATFORM_PORTS:
        raw = _get(doc.data, path)
        port = _int(raw) if raw is not None else default
        if port is None:
            continue
        if port in taken:
            problems.add_at(
                _at(doc, path), path, f"port {port} is already used by {field_path(taken[port])}"
            )
        taken.setdefault(port, path)
    for kind in ("windows", "freeze"):
        windows = _get(doc.data, ("maintenance", kind))
        if not isinstance(windows, list):
            continue
        seen: set[str] = set()
        for index, window in enumerate(windows):
            base: PathT = ("maintenance", kind, index)
            _check_cron(doc, base + ("cron",), problems, cron)
            name = _get(window, ("name",))
            if isinstance(name, str) and name in seen:
                problems.add_at(
                    _at(doc, base + ("name",)), base + ("name",), f"duplicate {kind} name '{name}'"
                )
            if isinstance(name, str):
                seen.add(name)
    if _get(doc.data, ("backup", "schedule")) is not None:
        _check_cron(doc, ("backup", "schedule"), problems, cron)
    sinks = _get(doc.data, ("notifications",))
    seen_sinks: set[str] = set()
    for index, sink in enumerate(sinks if isinstance(sinks, list) else []):
        name = _get(sink, ("name",))
        if isinstance(name, str) and name in seen_sinks:
            where: PathT = ("notifications", index, "name")
            problems.add_at(_at(doc, where), where, f"duplicate sink name '{name}'")
        if isinstance(name, str):
            seen_sinks.add(name)
    return taken
