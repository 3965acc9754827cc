"""The original services' request and answer shapes, built from each project's contract.

The original services are the BankChurn, CarVision and TelecomAI FastAPI apps of
DuqueOM/ML-MLOps-Portfolio (``<Project>/app/fastapi_app.py``); the example payloads in
``projects/<name>/tests/fixtures/original_payloads.json`` are the ones published with them
(``docs/api/rest-apis.md``, ``CarVision-Market-Intelligence/docs/_per_file/fastapi_app.md``),
each entry naming its file and commit; the one full ten-field CarVision payload is
reconstructed from that app's ``VehicleFeatures`` schema and says so. The replicas answer
them in tests/integration/test_serving.py; here the records and answers are checked.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from runner.errors import PermanentError
from runner.ml.schemas import REQUEST_DATE, Column, DatasetSchema, LegacyApi, RequestAlias
from runner.serving.definition import ServiceDefinition, load_definition
from runner.serving.records import from_schema, record_model

ROOT = Path(__file__).resolve().parents[2]
PROJECTS = ("bankchurn", "carvision", "telecom")


def definition(project: str) -> ServiceDefinition:
    return load_definition(ROOT / "projects" / project)


def originals(project: str) -> dict[str, Any]:
    path = ROOT / "projects" / project / "tests" / "fixtures" / "original_payloads.json"
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def payloads() -> list[Any]:
    return [
        pytest.param(project, item["body"], id=f"{project}-{i}")
        for project in PROJECTS
        for i, item in enumerate(originals(project)["requests"])
    ]


def errors(record: type[Any], body: dict[str, Any]) -> list[tuple[str, str]]:
    with pytest.raises(ValidationError) as info:
        record.model_validate(body)
    return [(".".join(str(p) for p in e["loc"]), e["type"]) for e in info.value.errors()]


@pytest.mark.parametrize(("project", "body"), payloads())
def test_original_payloads_become_full_records(project: str, body: dict[str, Any]) -> None:
    service = definition(project)
    dumped = service.record.model_validate(body).model_dump()
    # Exactly the model's columns: aliases and ignored fields never reach the model.
    assert list(dumped) == list(service.features)


def test_carvision_defaults_are_the_original_apis() -> None:
    # VehicleFeatures' defaults; drive "fwd" is stored as the data stores non-4wd: empty.
    dumped = definition("carvision").record.model_validate(
        {"model_year": 2019, "model": "toyota corolla"}).model_dump()
    assert dumped == {
        "model_year": 2019, "model": "toyota corolla", "condition": "good", "cylinders": 4,
        "fuel": "gas", "odometer": 0.0, "transmission": "automatic", "type": "sedan",
        "paint_color": "white", "is_4wd": None,
        "date_posted": dt.datetime.now(dt.UTC).date().isoformat(),
    }


@pytest.mark.parametrize(
    ("sent", "is_4wd"),
    [
        ({"drive": "4wd"}, 1),
        ({"drive": "fwd"}, None),
        ({"drive": "rwd"}, None),
        ({"is_4wd": 1}, 1),
        ({"is_4wd": 0}, None),  # the data has no 0: an empty cell means not 4wd
        ({"drive": "4wd", "is_4wd": 1}, 1),
        ({"drive": "fwd", "is_4wd": 0}, None),
    ],
)
def test_carvision_drive_sets_is_4wd(sent: dict[str, Any], is_4wd: int | None) -> None:
    record = definition("carvision").record.model_validate({"model": "bmw x5", **sent})
    assert record.model_dump()["is_4wd"] == is_4wd


def test_carvision_drive_refuses_unknown_values_and_disagreement() -> None:
    record = definition("carvision").record
    assert errors(record, {"model": "bmw x5", "drive": "awd"}) == [("drive", "literal_error")]
    # A whole-record error (FastAPI's loc is just "body"); the message names both fields.
    assert errors(record, {"model": "bmw x5", "drive": "4wd", "is_4wd": 0}) == [
        ("", "value_error")]
    with pytest.raises(ValidationError, match="drive and is_4wd disagree"):
        record.model_validate({"model": "bmw x5", "drive": "4wd", "is_4wd": 0})


def test_days_listed_is_no_longer_needed_nor_used() -> None:
    service = definition("carvision")
    assert "days_listed" not in service.features
    sample = {"model": "bmw x5", "days_listed": 19, "date_posted": "2018-06-23"}
    assert "days_listed" not in service.record.model_validate(sample).model_dump()


@pytest.mark.parametrize(
    ("project", "required"),
    [("bankchurn", "CreditScore"), ("carvision", "model"), ("telecom", "calls")],
)
def test_a_required_field_missing_is_still_named(project: str, required: str) -> None:
    body = dict(originals(project)["requests"][0]["body"])
    del body[required]
    assert errors(definition(project).record, body) == [(required, "missing")]


@pytest.mark.parametrize("project", PROJECTS)
def test_a_misspelt_field_is_still_refused(project: str) -> None:
    body = {**originals(project)["requests"][0]["body"], "manufactuer": "ford"}
    assert errors(definition(project).record, body) == [("manufactuer", "extra_forbidden")]


@pytest.mark.parametrize("project", PROJECTS)
def test_answers_carry_the_original_fields(project: str) -> None:
    service = definition(project)
    expected = originals(project)["answer_fields"]
    if service.task == "classification":
        item = service.answer(1, 0.8, True)
        assert item["prediction"] == 1 and item["probability"] == 0.8
    else:
        item = service.answer(12345.0, 12345.0, False)
        assert item["prediction"] == 12345.0
    # model_version is added by the app to every answer.
    missing = [f for f in expected if f not in item and f != "model_version"]
    assert not missing, f"{project} answers lack {missing}"


def test_bankchurn_answer_values() -> None:
    item = definition("bankchurn").answer(1, 0.8, True)
    assert item["churn_probability"] == 0.8 and item["churn_prediction"] == 1
    assert item["risk_level"] == "HIGH" and item["confidence"] == pytest.approx(0.6)
    stamp = dt.datetime.strptime(item["prediction_timestamp"], "%Y-%m-%dT%H:%M:%SZ")
    assert abs(stamp.replace(tzinfo=dt.UTC) - dt.datetime.now(dt.UTC)) < dt.timedelta(minutes=1)


# ----------------------------------------------------------------- the generic parts


def toy(*columns: Column, legacy: LegacyApi | None = None) -> DatasetSchema:
    return DatasetSchema(
        project="toy", raw_file="toy.csv", task="regression", model_name="toy-model",
        primary_metric="r2", target=Column("y", "float"), features=columns, legacy=legacy,
    )


def test_a_plain_alias_renames_and_an_ignored_field_is_dropped() -> None:
    legacy = LegacyApi(source="test", aliases=(RequestAlias("old_x", "x"),),
                       ignored={"junk": "never used"}, response={"value": "prediction"})
    schema = toy(Column("x", "float", 0, 10), legacy=legacy)
    record = record_model(schema)
    assert record.model_validate({"old_x": 3, "junk": [1, 2]}).model_dump() == {"x": 3.0}
    assert record.model_validate({"x": 3, "old_x": 3.0}).model_dump() == {"x": 3.0}
    assert errors(record, {}) == [("x", "missing")]  # the alias stands in for a required column
    assert from_schema(schema).answer(2.5, 2.5, False) == {"prediction": 2.5, "value": 2.5}


def test_an_alias_value_gets_the_columns_checks() -> None:
    legacy = LegacyApi(source="test", aliases=(RequestAlias("old_x", "x"),))
    record = record_model(toy(Column("x", "float", 0, 10), legacy=legacy))
    assert errors(record, {"old_x": 11}) == [("x", "less_than_equal")]
    assert errors(record, {"old_x": 4, "x": 3}) == [("", "value_error")]


def test_a_default_outside_the_contract_fails_at_start() -> None:
    with pytest.raises(PermanentError, match="column c: default 'purple'"):
        record_model(toy(Column("c", "category", categories=("red",), default="purple")))
    with pytest.raises(PermanentError, match="dates only"):
        record_model(toy(Column("n", "int", default=REQUEST_DATE)))


def test_request_date_default_is_today_and_a_sent_date_wins() -> None:
    record = record_model(toy(Column("d", "date", default=REQUEST_DATE)))
    assert record.model_validate({}).model_dump() == {
        "d": dt.datetime.now(dt.UTC).date().isoformat()}
    assert record.model_validate({"d": "2018-06-23"}).model_dump() == {"d": "2018-06-23"}


def test_alias_and_ignored_names_may_not_shadow_columns() -> None:
    clash = LegacyApi(source="test", ignored={"x": "?"})
    with pytest.raises(PermanentError, match="ignored field x is a column"):
        record_model(toy(Column("x", "float"), legacy=clash))
