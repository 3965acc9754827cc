"""The fast single-record path against the fitted pipeline it replaces: bitwise identical.

Each project's real pipeline (runner.ml.modeling with its own params.yaml, full number of
boosting rounds) is trained on its own generator's rows, stored and reloaded as the
registry stores it (joblib pickle), and compared on 1,000 other generated rows, a third
of them with missing values and unknown categories: every output value is the same
float64, one record at a time and in small groups.
"""

from __future__ import annotations

import importlib.util
import io
import math
import random
from pathlib import Path
from typing import Any

import pytest

from runner.serving.definition import ServiceDefinition, load_definition, load_sample
from runner.serving.fastcheck import FAST_MAX_ROWS, decide, fast_output, pipeline_output

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("bankchurn", "carvision", "telecom")
ROWS = 1000
UNKNOWN = {"Geography": "Italy", "Gender": "Other", "condition": "shiny", "fuel": "steam",
           "transmission": "cvt", "type": "tank", "paint_color": "chrome",
           "model": "zastava yugo"}


def generator(project: str) -> Any:
    spec = importlib.util.spec_from_file_location(
        f"generate_{project}", ROOT / "projects" / project / "generate.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module", params=SERVICES)
def fitted(request: pytest.FixtureRequest) -> tuple[ServiceDefinition, Any, list[dict[str, Any]]]:
    """(definition, reloaded fitted pipeline, 1,000 rows) of one project."""
    import joblib
    from threadpoolctl import threadpool_limits

    from runner.ml import stages
    from runner.ml.data_validation import validate_frame
    from runner.ml.modeling import build_model
    from runner.ml.project import load_project

    project = request.param
    project_dir = ROOT / "projects" / project
    schema = load_project(project_dir).contract
    gen = generator(project)
    train = validate_frame(gen.generate(rows=3000, seed=7), schema)
    params = dict(stages.load_params(project_dir).get("train", {}))
    with threadpool_limits(1):
        model = build_model(schema, params)
        model.fit(train[schema.feature_names], train[schema.target.name])
    buffer = io.BytesIO()
    joblib.dump(model, buffer)
    buffer.seek(0)
    reloaded = joblib.load(buffer)
    definition = load_definition(project_dir)
    fresh = gen.generate(rows=ROWS, seed=11)[list(definition.features)]
    rows = [mutate(clean(r, definition), definition, i) for i, r in
            enumerate(fresh.to_dict(orient="records"))]
    return definition, reloaded, rows


def clean(raw: dict[str, Any], definition: ServiceDefinition) -> dict[str, Any]:
    """A generated row as a request record: NaN -> None, whole floats of int fields -> int."""
    row = {k: None if isinstance(v, float) and math.isnan(v) else v for k, v in raw.items()}
    row = {k: v.item() if hasattr(v, "item") else v for k, v in row.items()}
    try:
        return definition.record.model_validate(row).model_dump()
    except ValueError:
        return row


def mutate(row: dict[str, Any], definition: ServiceDefinition, i: int) -> dict[str, Any]:
    """Every third row: some fields missing, categories the model never saw."""
    rng = random.Random(i)
    if i % 3:
        return row
    out = dict(row)
    for name in definition.features:
        roll = rng.random()
        if roll < 0.25:
            out[name] = None
        elif roll < 0.6 and name in UNKNOWN:
            out[name] = UNKNOWN[name]
    return out


def test_fast_path_is_bitwise_the_pipeline_on_1000_rows(
    fitted: tuple[ServiceDefinition, Any, list[dict[str, Any]]],
) -> None:
    definition, model, rows = fitted
    decision = decide(model, definition, [load_sample(definition_dir(definition))])
    assert decision.fast is not None, decision.reason
    missing = sum(1 for r in rows for v in r.values() if v is None)
    unknown = sum(1 for r in rows for k, v in r.items() if k in UNKNOWN and v == UNKNOWN[k])
    assert missing > 100
    assert unknown > 50 or not definition.categorical

    expected = pipeline_output(model, definition.task, definition.frame(rows))
    differing = declined = 0
    for i, row in enumerate(rows):
        got = fast_output(decision.fast, [row])
        if got is None:
            declined += 1
        elif got[0].tobytes() != expected[i].tobytes():
            differing += 1
    assert (differing, declined) == (0, 0)
    for start in range(0, ROWS, FAST_MAX_ROWS):
        group = rows[start:start + FAST_MAX_ROWS]
        got = fast_output(decision.fast, group)
        assert got is not None
        assert got.tobytes() == expected[start:start + FAST_MAX_ROWS].copy().tobytes()


def test_pipeline_is_kept_when_switched_off_or_unsupported(
    fitted: tuple[ServiceDefinition, Any, list[dict[str, Any]]],
) -> None:
    from sklearn.pipeline import Pipeline

    definition, model, _ = fitted
    sample = load_sample(definition_dir(definition))
    off = decide(model, definition, [sample], enabled=False)
    assert off.fast is None and "MLGITOPS_FASTPATH=0" in off.reason
    no_transformer = Pipeline([model.steps[-1]])  # the estimator alone: nothing to walk
    decision = decide(no_transformer, definition, [sample])
    assert decision.fast is None and decision.reason.startswith("pipeline not compiled")
    assert decision.describe()["serving_path"] == "pipeline"


def definition_dir(definition: ServiceDefinition) -> Path:
    return ROOT / "projects" / definition.name
