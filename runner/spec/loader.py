"""Read ``specs/``, apply the environment overlay, validate, and build one ``Platform``.

Every problem in every file is collected before anything is raised, so one run of
``inv validate`` lists all of them (``file:line:col field.path: message``), sorted by
file and line. Nothing here writes files.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from runner.errors import SpecError
from runner.spec.checks import check_all
from runner.spec.merge import deep_merge
from runner.spec.models import Platform, PlatformSpec, ServiceSpec
from runner.spec.problems import Problems, pydantic_message, suggest
from runner.spec.yamlpos import PathT, Pos, Positions, load_yaml

OVERLAY_KEYS = ("platform", "services")


class Doc:
    """One logical document (the platform, or one service) after its overlay is merged."""

    def __init__(self, data: Any, pos: Positions, file: str) -> None:
        self.data = data
        self.pos = pos
        self.file = file  # the base file, for errors that belong to the document as a whole


def spec_paths(root: Path) -> tuple[Path, list[Path], Path]:
    specs = root / "specs"
    services = sorted((specs / "services").glob("*.yaml"))
    return specs / "platform.yaml", services, specs / "environments"


def known_environments(root: Path) -> list[str]:
    return sorted(p.stem for p in (root / "specs" / "environments").glob("*.yaml"))


def load_platform(root: Path, env: str = "dev") -> Platform:
    """Load and validate every spec under ``root/specs`` with the ``env`` overlay.

    Raises ``SpecError`` listing every problem found, one line each.
    """
    root = Path(root).resolve()
    problems = Problems(root)
    platform = _load(root, env, problems)
    if problems or platform is None:
        raise SpecError(problems.sorted())
    return platform


def _rel(root: Path, path: Path) -> str:
    try:
        return path.resolve().relative_to(root).as_posix()
    except ValueError:
        return path.as_posix()


def _read(root: Path, path: Path, problems: Problems) -> tuple[Any, Positions, bool]:
    """Parse one file; returns (data, positions, ok). Empty files read as ``{}``."""
    data, pos, yaml_problems = load_yaml(path, _rel(root, path))
    for yp in yaml_problems:
        problems.add_at(yp.pos, yp.path, yp.message)
    if yaml_problems and data is None:
        return None, pos, False
    if data is None:
        data = {}
    if not isinstance(data, dict):
        problems.add_at(
            pos.values.get((), Pos(_rel(root, path), 1, 1)),
            (),
            f"the top level must be a mapping, not {type(data).__name__}",
        )
        return None, pos, False
    return data, pos, True


def _load(root: Path, env: str, problems: Problems) -> Platform | None:
    platform_file, service_files, env_dir = spec_paths(root)
    overlay_file = env_dir / f"{env}.yaml"

    overlay: dict[str, Any] = {}
    overlay_pos = Positions.empty()
    if not overlay_file.is_file():
        known = ", ".join(known_environments(root)) or "none"
        problems.add_at(
            Pos(_rel(root, overlay_file)), (), f"unknown environment '{env}' (known: {known})"
        )
    else:
        data, overlay_pos, ok = _read(root, overlay_file, problems)
        if ok:
            overlay = data

    # The overlay's own shape: only platform/services, and only sections that are mappings.
    for key in list(overlay):
        if key not in OVERLAY_KEYS:
            problems.add_at(
                overlay_pos.keys[(str(key),)],
                (str(key),),
                f"unknown key '{key}'{suggest(str(key), OVERLAY_KEYS)}",
            )
            del overlay[key]
        elif overlay[key] is None:
            overlay[key] = {}
        elif not isinstance(overlay[key], dict):
            problems.add_at(overlay_pos.values[(str(key),)], (str(key),), "must be a mapping")
            overlay[key] = {}

    docs: dict[str, Doc] = {}
    if platform_file.is_file():
        data, pos, ok = _read(root, platform_file, problems)
        if ok:
            docs["platform"] = Doc(data, pos, _rel(root, platform_file))
    else:
        problems.add_at(Pos(_rel(root, platform_file)), (), "file is missing")

    for path in service_files:
        data, pos, ok = _read(root, path, problems)
        if ok:
            docs["service:" + path.stem] = Doc(data, pos, _rel(root, path))
    if not service_files:
        problems.add_at(Pos(_rel(root, root / "specs" / "services")), (), "no service specs")

    # Anything else in services/ would be silently ignored: say so instead.
    for stray in sorted((root / "specs" / "services").glob("*")):
        if stray.suffix != ".yaml" and not stray.name.startswith("."):
            problems.add_at(
                Pos(_rel(root, stray)), (), "not read: service specs must be named <name>.yaml"
            )

    _apply_overlay(docs, overlay, overlay_pos, [p.stem for p in service_files], problems)

    platform_spec = _validate(docs.get("platform"), PlatformSpec, problems)
    services: dict[str, ServiceSpec] = {}
    for key, doc in docs.items():
        if key.startswith("service:"):
            spec = _validate(doc, ServiceSpec, problems)
            if isinstance(spec, ServiceSpec):
                services[key.removeprefix("service:")] = spec

    all_service_docs = {
        key.removeprefix("service:"): doc for key, doc in docs.items() if key.startswith("service:")
    }
    check_all(
        root=root,
        env=env if overlay_file.is_file() else None,
        platform_doc=docs.get("platform"),
        service_docs=all_service_docs,
        problems=problems,
    )
    if problems or not isinstance(platform_spec, PlatformSpec):
        return None
    by_name = {spec.name: spec for spec in services.values()}
    return Platform(
        platform=platform_spec,
        services=dict(sorted(by_name.items())),
        environment=env,
        root=str(root),
    )


def _apply_overlay(
    docs: dict[str, Doc],
    overlay: dict[str, Any],
    overlay_pos: Positions,
    service_names: list[str],
    problems: Problems,
) -> None:
    """Deep-merge the overlay's sections into their documents, keeping overlay positions."""
    if "platform" in docs and overlay.get("platform"):
        doc = docs["platform"]
        over_pos = overlay_pos.rebased(("platform",), ("platform",))
        doc.data, doc.pos = deep_merge(doc.data, doc.pos, overlay["platform"], over_pos)
    for name, section in (overlay.get("services") or {}).items():
        path: PathT = ("services", str(name))
        if name not in service_names:
            problems.add_at(
                overlay_pos.keys[path],
                path,
                f"unknown service '{name}'{suggest(str(name), service_names)}",
            )
            continue
        if section is None or f"service:{name}" not in docs:
            continue  # nothing to merge, or the base file is unreadable (reported already)
        if not isinstance(section, dict):
            problems.add_at(overlay_pos.values[path], path, "must be a mapping")
            continue
        doc = docs[f"service:{name}"]
        over_pos = overlay_pos.rebased(path, path)
        doc.data, doc.pos = deep_merge(doc.data, doc.pos, section, over_pos)


def _validate(doc: Doc | None, model: type[BaseModel], problems: Problems) -> BaseModel | None:
    if doc is None:
        return None
    try:
        return model.model_validate(doc.data)
    except ValidationError as exc:
        for err in exc.errors(include_url=False):
            loc: PathT = tuple(err["loc"])
            error = (err.get("ctx") or {}).get("error")
            field = getattr(error, "field", None)
            if isinstance(field, str):
                loc = loc + (field,)
            is_key = err["type"] == "extra_forbidden"
            pos = doc.pos.locate(loc, key=is_key) or Pos(doc.file, 1, 1)
            problems.add_at(pos, loc, pydantic_message(model, err, loc))
        return None


__all__ = ["Doc", "known_environments", "load_platform"]
