"""Parts of the fast path and of the drain that need no trained model or replica.

The per-record twins of the pipelines' FunctionTransformer steps against the functions
themselves on edge rows; the version pin; the ops switch; the drain's Connection: close.
"""

from __future__ import annotations

import asyncio
import math
from pathlib import Path
from typing import Any

import pytest

from runner.serving.config import ServingConfig
from runner.serving.fastcheck import TESTED_SKLEARN, decide
from runner.serving.fastpath import car_record, clean_record
from runner.serving.fasttrees import Unsupported
from runner.serving.launch import DrainGate

ROOT = Path(__file__).resolve().parents[2]
BASE = {"model_year": 2011, "model": "bmw x5", "condition": "good", "cylinders": 6,
        "fuel": "gas", "odometer": 145000.0, "transmission": "automatic", "type": "SUV",
        "paint_color": None, "is_4wd": 1, "date_posted": "2018-06-23"}
EDGES = [
    {},
    {"model": "  BMW   X5 "},
    {"model": " "},
    {"model_year": 2020, "date_posted": "2018-01-31"},  # negative age clips to 0
    {"model_year": None, "odometer": None, "cylinders": None},
    {"date_posted": "1999-12-31", "odometer": 0.0},
    {"model": "ford", "paint_color": "red", "is_4wd": None},
]


def front_steps() -> list[Any]:
    from runner.ml.modeling import build_model
    from runner.ml.project import load_project

    contract = load_project(Path(__file__).parents[2] / "projects" / "carvision").contract
    pipeline = build_model(contract, {})
    return [step for _, step in pipeline.steps[:-2]]  # clean, derive


def same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or a == b
    return bool(a == b)


@pytest.mark.parametrize("change", EDGES)
def test_record_twins_match_the_pipeline_functions(change: dict[str, Any]) -> None:
    import pandas as pd

    from runner.serving.definition import load_definition

    definition = load_definition(ROOT / "projects" / "carvision")
    row = {**BASE, **change}
    frame: pd.DataFrame = definition.frame([row])
    clean, derive = front_steps()
    expected = derive.transform(clean.transform(frame)).iloc[0].to_dict()
    got = car_record(clean_record(row, **clean.kw_args))
    assert set(got) == set(expected)
    for name, value in expected.items():
        assert same(float(value) if isinstance(value, int) else value, got[name]), name


def test_record_outside_the_twin_is_declined() -> None:
    with pytest.raises(Unsupported):
        car_record(clean_record({**BASE, "date_posted": "June 23, 2018"}))
    with pytest.raises(Unsupported):
        clean_record({"odometer": "145000"}, numeric=["odometer"])


def test_untested_scikit_learn_serves_the_pipeline(monkeypatch: pytest.MonkeyPatch) -> None:
    import sklearn

    from runner.serving.definition import load_definition

    monkeypatch.setattr(sklearn, "__version__", "0.0.1")
    decision = decide(object(), load_definition(ROOT / "projects" / "telecom"), [])
    assert decision.fast is None and "0.0.1 is not a tested version" in decision.reason
    assert sklearn.__version__ not in TESTED_SKLEARN


@pytest.mark.parametrize(("value", "expected"), [(None, True), ("1", True), ("0", False),
                                                 ("off", False), ("false", False)])
def test_fastpath_switch(value: str | None, expected: bool) -> None:
    env = {"MLGITOPS_SERVICE": "telecom", "MLGITOPS_PROJECT_DIR": str(ROOT / "projects/telecom"),
           "PORT": "8000"}
    if value is not None:
        env["MLGITOPS_FASTPATH"] = value
    assert ServingConfig.from_env(env).fastpath is expected


def test_drain_gate_adds_connection_close_only_while_draining() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json"),
                                (b"connection", b"keep-alive")]})
        await send({"type": "http.response.body", "body": b"{}"})

    gate = DrainGate(app)

    def headers(port: int) -> list[tuple[bytes, bytes]]:
        sent: list[Any] = []

        async def send(message: Any) -> None:
            sent.append(message)

        scope = {"type": "http", "server": ("127.0.0.1", port)}
        asyncio.run(gate(scope, None, send))
        return list(sent[0]["headers"])

    assert (b"connection", b"keep-alive") in headers(8000)
    gate.ports.add(8000)
    assert headers(8000)[-1] == (b"connection", b"close")
    assert (b"connection", b"keep-alive") not in headers(8000)
    assert (b"connection", b"keep-alive") in headers(9000)  # the admin port is not draining
    gate.everything = True
    assert headers(9000)[-1] == (b"connection", b"close")
