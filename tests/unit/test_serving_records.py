"""Request validation derived from the data contract, and the projects' service definitions."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from runner.ml.project import load_projects
from runner.serving.definition import load_definition, load_sample

ROOT = Path(__file__).resolve().parents[2]
SCHEMAS = {name: p.contract for name, p in load_projects(ROOT).items()}
PROJECTS = tuple(SCHEMAS)


def definition(project: str) -> Any:
    return load_definition(ROOT / "projects" / project)


def error_fields(project: str, record: dict[str, Any]) -> list[str]:
    with pytest.raises(ValidationError) as info:
        definition(project).record.model_validate(record)
    return [".".join(str(p) for p in err["loc"]) for err in info.value.errors()]


@pytest.mark.parametrize("project", PROJECTS)
def test_samples_validate_and_cover_every_feature(project: str) -> None:
    service = definition(project)
    sample = load_sample(ROOT / "projects" / project)
    assert set(sample) == set(service.features)
    service.record.model_validate(sample)
    batch = json.loads(
        (ROOT / "projects" / project / "tests/fixtures/sample_batch.json").read_text()
    )
    for record in batch["records"]:
        service.record.model_validate(record)


@pytest.mark.parametrize("project", PROJECTS)
def test_features_follow_the_schema(project: str) -> None:
    service = definition(project)
    schema = SCHEMAS[project]
    assert list(service.features) == schema.feature_names
    assert service.task == schema.task


@pytest.mark.parametrize(
    ("project", "change", "field"),
    [
        ("bankchurn", {"Geography": "Italy"}, "Geography"),
        ("bankchurn", {"Age": 17}, "Age"),
        ("bankchurn", {"Age": 30.5}, "Age"),
        ("bankchurn", {"HasCrCard": 2}, "HasCrCard"),
        ("bankchurn", {"Balance": float("nan")}, "Balance"),
        ("bankchurn", {"CustomerId": 1}, "CustomerId"),
        ("carvision", {"date_posted": "23/06/2018"}, "date_posted"),
        ("carvision", {"model": ""}, "model"),
        ("carvision", {"type": "spaceship"}, "type"),
        ("telecom", {"minutes": 10_001}, "minutes"),
    ],
)
def test_bad_values_name_their_field(project: str, change: dict[str, Any], field: str) -> None:
    sample = load_sample(ROOT / "projects" / project)
    assert error_fields(project, {**sample, **change}) == [field]


def test_missing_required_field_is_named() -> None:
    sample = load_sample(ROOT / "projects" / "telecom")
    del sample["calls"]
    assert error_fields("telecom", sample) == ["calls"]


def test_nullable_fields_may_be_null_or_absent() -> None:
    sample = load_sample(ROOT / "projects" / "bankchurn")
    record = definition("bankchurn").record
    assert record.model_validate({**sample, "Tenure": None}).model_dump()["Tenure"] is None
    del sample["Tenure"]
    assert record.model_validate(sample).model_dump()["Tenure"] is None


def test_whole_floats_pass_as_ints_and_dates_normalise() -> None:
    sample = load_sample(ROOT / "projects" / "carvision")
    record = definition("carvision").record
    dumped = record.model_validate({**sample, "model_year": 2011.0}).model_dump()
    assert dumped["model_year"] == 2011
    assert dumped["date_posted"] == "2018-06-23"


@pytest.mark.parametrize(
    ("probability", "level"),
    [
        (0.0, "LOW"),
        (0.2999, "LOW"),
        (0.3, "MEDIUM"),
        (0.6999, "MEDIUM"),
        (0.7, "HIGH"),
        (1.0, "HIGH"),
    ],
)
def test_bankchurn_risk_level_bands(probability: float, level: str) -> None:
    extra = definition("bankchurn").extra
    assert extra is not None
    assert extra(probability)["risk_level"] == level


def test_frame_types_like_the_training_frame() -> None:
    service = definition("carvision")
    sample = load_sample(ROOT / "projects" / "carvision")
    frame = service.frame([{**sample, "odometer": None}])
    assert list(frame.columns) == list(service.features)
    assert frame["odometer"].dtype == "float64" and frame["odometer"].isna().all()
    assert frame["paint_color"].dtype == object and frame["paint_color"].iloc[0] is None
    assert frame["model_year"].iloc[0] == 2011.0
