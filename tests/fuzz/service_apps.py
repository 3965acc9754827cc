"""The three services' real apps with real (small) models, built in process for fuzzing.

Each project's own generator, pipeline and service definition: a model is trained on a few
hundred generated rows (as tests/integration/serving_support.py does, without the MLflow
registry round trip, which the fuzzers do not exercise) and published to the app's model
holder, so requests go all the way through validation, the fitted pipeline, the metrics
and the prediction log. The app's lifespan is not run (it would load from a registry);
the prediction log is started and stopped by ``served``.
"""

from __future__ import annotations

import importlib.util
import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI

from runner.serving.app import create_app
from runner.serving.config import ServingConfig
from runner.serving.definition import ServiceDefinition, load_definition, load_sample
from runner.serving.model_loading import LoadedModel, ModelHolder

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("bankchurn", "carvision", "telecom")
TRAIN_ROWS = 400
PUBLIC_PORT = 8000


@dataclass
class Served:
    name: str
    app: FastAPI
    definition: ServiceDefinition
    sample: dict[str, Any]
    holder: ModelHolder


def train(project: str) -> Any:
    """A fitted pipeline of the project's own model, small and single-threaded."""
    from threadpoolctl import threadpool_limits

    from runner.ml import stages
    from runner.ml.data_validation import validate_frame
    from runner.ml.modeling import build_model
    from runner.ml.project import load_project

    schema = load_project(Path(__file__).resolve().parents[2] / "projects" / project).contract
    project_dir = ROOT / "projects" / project
    spec = importlib.util.spec_from_file_location(f"fuzz_generate_{project}",
                                                  project_dir / "generate.py")
    assert spec is not None and spec.loader is not None
    generator = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generator)
    clean = validate_frame(generator.generate(rows=TRAIN_ROWS, seed=11), schema)
    params = dict(stages.load_params(project_dir).get("train", {}))
    params["model"] = {**params.get("model", {}), "max_iter": 10}
    with threadpool_limits(1):
        model = build_model(schema, params)
        model.fit(clean[schema.feature_names], clean[schema.target.name])
    return model


@contextmanager
def served(project: str, state: Path, **env: str) -> Iterator[Served]:
    """The project's app with a trained model published; the prediction log runs."""
    project_dir = ROOT / "projects" / project
    config = ServingConfig.from_env({
        "MLGITOPS_SERVICE": project, "MLGITOPS_PROJECT_DIR": str(project_dir),
        "MODEL_VERSION": "1", "PORT": str(PUBLIC_PORT), "MLGITOPS_STATE_DIR": str(state),
        **env,
    })
    definition = load_definition(project_dir)
    sample = load_sample(project_dir)
    holder = ModelHolder()
    app = create_app(config, definition, holder)
    loaded = LoadedModel(definition, train(project), f"{project}-model", "1", "fuzz-run",
                         {"name": f"{project}-model", "version": "1", "run_id": "fuzz-run",
                          "metrics": {}, "params": {}, "tags": {}}, sample)
    holder.publish(loaded)
    app.state.predlog.start()
    try:
        yield Served(project, app, definition, sample, holder)
    finally:
        app.state.predlog.close()


def sample(project: str) -> dict[str, Any]:
    path = ROOT / "projects" / project / "tests" / "fixtures" / "sample_request.json"
    return dict(json.loads(path.read_text()))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def listening(app: FastAPI) -> Iterator[str]:
    """``app`` under uvicorn on a free port of 127.0.0.1, in a thread; yields its base URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="off",
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "uvicorn did not start"
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
