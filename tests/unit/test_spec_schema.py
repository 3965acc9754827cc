"""JSON Schemas: committed, up to date, named by every spec file, and agreeing with it."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from runner.spec.schema import schema_files, schema_line

REPO = Path(__file__).resolve().parents[2]


def _spec_files() -> list[tuple[str, Path]]:
    specs = REPO / "specs"
    out = [("platform", specs / "platform.yaml")]
    out += [("service", p) for p in sorted((specs / "services").glob("*.yaml"))]
    out += [("environment", p) for p in sorted((specs / "environments").glob("*.yaml"))]
    return out


def test_schema_files_are_deterministic_and_committed() -> None:
    files = schema_files(REPO)
    assert sorted(files) == [
        "generated/schema/environment.schema.json",
        "generated/schema/platform.schema.json",
        "generated/schema/service.schema.json",
    ]
    assert files == schema_files(REPO)
    for rel, content in files.items():
        assert content.endswith("}\n")
        assert (REPO / rel).read_text(encoding="utf-8") == content, f"{rel} is stale"
        jsonschema.Draft202012Validator.check_schema(json.loads(content))


@pytest.mark.parametrize("kind,path", _spec_files(), ids=lambda v: getattr(v, "name", v))
def test_spec_names_its_schema_and_matches_it(kind: str, path: Path) -> None:
    rel = path.relative_to(REPO).as_posix()
    first = path.read_text(encoding="utf-8").splitlines()[0]
    assert first == schema_line(kind, rel)
    target = (path.parent / first.split("$schema=", 1)[1]).resolve()
    assert target == REPO / "generated" / "schema" / f"{kind}.schema.json"
    schema = json.loads(target.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator(schema).validate(yaml.safe_load(path.read_text()) or {})


def test_schema_rejects_what_the_loader_rejects() -> None:
    schemas = {rel.split("/")[-1]: json.loads(c) for rel, c in schema_files().items()}
    service = yaml.safe_load((REPO / "specs/services/bankchurn.yaml").read_text())
    service["replica"] = 2
    service["port"] = "eighty"
    errors = list(
        jsonschema.Draft202012Validator(schemas["service.schema.json"]).iter_errors(service)
    )
    assert len(errors) == 2
    overlay = {"services": {"bankchurn": {"replicas": 0}}, "platfrom": {}}
    env_schema = schemas["environment.schema.json"]
    messages = sorted(
        e.message for e in jsonschema.Draft202012Validator(env_schema).iter_errors(overlay)
    )
    assert len(messages) == 2
    assert any("platfrom" in m for m in messages)
    # an overlay may give any subset of fields: no required ones
    jsonschema.Draft202012Validator(env_schema).validate({"services": {"x": {"replicas": 2}}})
