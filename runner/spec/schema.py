"""JSON Schema for each spec kind, for ``generated/schema/`` (written by ``inv render``).

Every spec file's first line names its schema (``# yaml-language-server: $schema=...``)
so editors complete and check fields as people type. The schemas come from the same
pydantic models the loader uses, so they cannot disagree about field names or types.
Cross-file rules (ports, project paths, cron) are only checked by ``inv validate``.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from runner.spec.models import PlatformSpec, ServiceSpec

SCHEMA_DIR = "generated/schema"
DRAFT = "https://json-schema.org/draft/2020-12/schema"
KINDS = ("platform", "service", "environment")


def _strip_required(node: Any) -> Any:
    """An overlay may set any subset of fields: drop every ``required`` list."""
    if isinstance(node, dict):
        return {k: _strip_required(v) for k, v in node.items() if k != "required"}
    if isinstance(node, list):
        return [_strip_required(v) for v in node]
    return node


def _model_schema(model: type[PlatformSpec] | type[ServiceSpec], title: str) -> dict[str, Any]:
    schema = model.model_json_schema(mode="validation")
    schema["title"] = title
    return {"$schema": DRAFT, **schema}


def _environment_schema() -> dict[str, Any]:
    platform = PlatformSpec.model_json_schema(mode="validation")
    service = ServiceSpec.model_json_schema(mode="validation")
    defs: dict[str, Any] = {}
    for source in (platform, service):
        for name, body in source.pop("$defs", {}).items():
            if name in defs and defs[name] != body:  # pragma: no cover - guards a rename
                raise ValueError(f"schema definition {name} differs between spec kinds")
            defs[name] = body
    defs["PlatformOverlay"] = platform
    defs["ServiceOverlay"] = service
    schema: dict[str, Any] = {
        "$schema": DRAFT,
        "title": "Environment overlay (specs/environments/<env>.yaml)",
        "description": "Deep-merged on top of the base specs: mappings merge key by key, "
        "lists and scalars replace. Any subset of fields may be given.",
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "platform": {"$ref": "#/$defs/PlatformOverlay"},
            "services": {
                "type": "object",
                "description": "Per-service overlays, keyed by service name.",
                "additionalProperties": {"$ref": "#/$defs/ServiceOverlay"},
            },
        },
        "$defs": defs,
    }
    stripped: dict[str, Any] = _strip_required(copy.deepcopy(schema))
    return stripped


def schemas() -> dict[str, dict[str, Any]]:
    """Kind -> JSON Schema document."""
    return {
        "platform": _model_schema(PlatformSpec, "Platform spec (specs/platform.yaml)"),
        "service": _model_schema(ServiceSpec, "Service spec (specs/services/<name>.yaml)"),
        "environment": _environment_schema(),
    }


def schema_files(root: Path | None = None) -> dict[str, str]:
    """Relative path -> file content, deterministic (sorted keys, trailing newline).

    ``root`` is accepted for symmetry with the renderer; the content does not depend on it.
    """
    return {
        f"{SCHEMA_DIR}/{kind}.schema.json": json.dumps(doc, indent=2, sort_keys=True) + "\n"
        for kind, doc in sorted(schemas().items())
    }


def schema_line(kind: str, spec_relpath: str) -> str:
    """The ``yaml-language-server`` line a spec file at ``spec_relpath`` should start with."""
    depth = spec_relpath.count("/")
    return f"# yaml-language-server: $schema={'../' * depth}{SCHEMA_DIR}/{kind}.schema.json"
