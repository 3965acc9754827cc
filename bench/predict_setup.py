"""Models and rows for bench/predict.py: a registry of the projects' real pipelines, the
1,000 generated request rows, and the comparison of two replicas' answers on them."""

from __future__ import annotations

import importlib.util
import json
import math
import os
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
TRAIN_ROWS = 5000


def generator(project: str, tree: Path = REPO) -> Any:
    spec = importlib.util.spec_from_file_location(
        f"generate_{project}", tree / "projects" / project / "generate.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def train_registry(tmp: Path, services: list[str], tree: Path = REPO) -> tuple[str, dict[str, str]]:
    """Each project's pipeline (its own params.yaml) trained on generated rows and
    registered in a temporary sqlite registry: (tracking URI, versions). ``tree``: whose
    projects; its code must be the ``runner`` imported (bench/predict_batch.py trains the
    anchor's in a process of its own)."""
    import joblib
    from threadpoolctl import threadpool_limits

    from runner.ml import registry, stages
    from runner.ml.evaluate import score
    from runner.ml.modeling import build_model

    try:  # a project is a folder since issue 9; before, the toolkit knew each schema
        from runner.ml.data_validation import validate_frame
        from runner.ml.project import load_project

        def contract(project_dir: Path) -> Any:
            return load_project(project_dir).contract
    except ImportError:
        from runner.ml.validate import validate_frame  # type: ignore[no-redef]

        from runner.ml.schemas import get_schema  # type: ignore[attr-defined]

        def contract(project_dir: Path) -> Any:
            return get_schema(project_dir.name)

    uri = f"sqlite:///{tmp / 'mlflow.db'}"
    os.environ.update(MLFLOW_TRACKING_URI=uri, MLGITOPS_STATE_DIR=str(tmp / "state"))
    versions = {}
    for project in services:
        project_dir = tree / "projects" / project
        schema = contract(project_dir)
        clean = validate_frame(generator(project, tree).generate(rows=TRAIN_ROWS, seed=7),
                               schema)
        cut = int(len(clean) * 0.8)
        train, test = clean.iloc[:cut], clean.iloc[cut:]
        params = stages.load_params(project_dir)
        with threadpool_limits(1):
            model = build_model(schema, dict(params.get("train", {})))
            model.fit(train[schema.feature_names], train[schema.target.name])
        path = tmp / f"{project}.joblib"
        joblib.dump(model, path)
        result = registry.register(
            root=tmp, schema=schema, model_path=path,
            metrics={"model": score(model, schema, test)}, params=params,
            tags={"data_version": f"bench-{project}-{TRAIN_ROWS}", "git_commit": "bench"},
            signature_frame=test[schema.feature_names].head(20),
        )
        versions[project] = str(result["version"])
    return uri, versions


def request_rows(service: str, count: int = 1000) -> list[dict[str, Any]]:
    """``count`` generated rows (another seed than training) as valid request records."""
    from runner.serving.definition import load_definition

    definition = load_definition(REPO / "projects" / service)
    frame = generator(service).generate(rows=count * 2, seed=11)[list(definition.features)]
    rows = []
    for raw in frame.to_dict(orient="records"):
        row = {k: None if isinstance(v, float) and math.isnan(v) else v for k, v in raw.items()}
        row = {k: v.item() if hasattr(v, "item") else v for k, v in row.items()}
        try:
            rows.append(json.loads(definition.record.model_validate(row).model_dump_json()))
        except ValueError:
            continue
        if len(rows) == count:
            break
    return rows


def prediction_fields(answer: dict[str, Any]) -> dict[str, Any]:
    """What a prediction says (not which replica or version said it, nor when)."""
    return {k: v for k, v in answer.items() if k not in ("model_version", "prediction_timestamp")}


def differing(a: list[dict[str, Any]], b: list[dict[str, Any]]) -> int:
    """How many answers differ at all (floats compared exactly, as JSON round-trips them)."""
    return sum(prediction_fields(x) != prediction_fields(y) for x, y in zip(a, b, strict=True))
