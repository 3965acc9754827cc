"""Helpers for the serving integration tests: real replica processes on free ports.

A replica is started exactly as the runtimes start one (``python -m runner.serving.launch``
with the launch environment), against a temporary MLflow sqlite registry holding small
real models trained and registered by the projects' own code (runner.ml) on a few
hundred generated rows.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("bankchurn", "carvision", "telecom")
START_TIMEOUT_S = 300  # the machine is shared; importing mlflow + sklearn can take a while


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def fixture(service: str, name: str = "sample_request.json") -> Any:
    return json.loads((ROOT / "projects" / service / "tests" / "fixtures" / name).read_text())


@dataclass
class Replica:
    service: str
    proc: subprocess.Popen[bytes]
    port: int
    admin_port: int | None
    log: Path
    state_dir: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def admin(self) -> str:
        return f"http://127.0.0.1:{self.admin_port or self.port}"

    def log_tail(self) -> str:
        return self.log.read_text()[-3000:] if self.log.exists() else "(no log)"

    def wait_settled(self, timeout: float = START_TIMEOUT_S) -> httpx.Response:
        """Poll /health until the model loaded (200) or failed to (503 with state failed)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"replica exited {self.proc.returncode}:\n{self.log_tail()}")
            try:
                resp = httpx.get(f"{self.admin}/health", timeout=2)
                if resp.status_code == 200 or resp.json().get("state") == "failed":
                    return resp
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"replica did not settle in {timeout}s:\n{self.log_tail()}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@dataclass
class Registry:
    tracking_uri: str
    versions: dict[str, str]
    tmp: Path


def start_replica(
    registry: Registry,
    service: str,
    *,
    version: str | None = None,
    port: int | None = None,
    admin: bool = True,
    env: dict[str, str] | None = None,
    tag: str = "",
) -> Replica:
    port = port or free_port()
    admin_port = free_port() if admin else None
    state_dir = registry.tmp / f"state-{service}{tag}"
    full_env = {
        **os.environ,
        "MLGITOPS_SERVICE": service,
        "MLGITOPS_PROJECT_DIR": str(ROOT / "projects" / service),
        "MODEL_NAME": f"{service}-model",
        "MODEL_VERSION": version or registry.versions[service],
        "MLFLOW_TRACKING_URI": registry.tracking_uri,
        "MLGITOPS_STATE_DIR": str(state_dir),
        "PORT": str(port),
        "PYTHONPATH": str(ROOT),
        **(env or {}),
    }
    if admin_port is not None:
        full_env["ADMIN_PORT"] = str(admin_port)
    log = registry.tmp / f"{service}{tag}-{port}.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "runner.serving.launch"],
            env=full_env,
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    return Replica(service, proc, port, admin_port, log, state_dir)


_REGISTRY: list[Registry] = []
TRAIN_ROWS = {"bankchurn": 1200, "carvision": 1500, "telecom": 800}


@contextlib.contextmanager
def environment(**values: str) -> Iterator[None]:
    """Set environment variables for a block (runner.ml reads its locations from them)."""
    old = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in old.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def train_and_register(project: str, workdir: Path) -> str:
    """The project's own generator, pipeline and registration, on a few hundred rows."""
    import joblib
    from threadpoolctl import threadpool_limits

    from runner.ml import registry, stages
    from runner.ml.data_validation import validate_frame
    from runner.ml.evaluate import score
    from runner.ml.modeling import build_model
    from runner.ml.project import load_project

    schema = load_project(ROOT / "projects" / project).contract
    project_dir = ROOT / "projects" / project
    spec = importlib.util.spec_from_file_location(
        f"generate_{project}", project_dir / "generate.py"
    )
    assert spec is not None and spec.loader is not None
    generator = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generator)
    clean = validate_frame(generator.generate(rows=TRAIN_ROWS[project], seed=7), schema)
    cut = int(len(clean) * 0.8)
    train, test = clean.iloc[:cut], clean.iloc[cut:]
    params = stages.load_params(project_dir)
    train_params = dict(params.get("train", {}))
    # Fewer boosting rounds than the real run: the tests need a real model, not a good one.
    train_params["model"] = {**train_params.get("model", {}), "max_iter": 30}
    with threadpool_limits(1):
        model = build_model(schema, train_params)
        model.fit(train[schema.feature_names], train[schema.target.name])
    path = workdir / f"{project}.joblib"
    joblib.dump(model, path)
    result = registry.register(
        root=workdir,
        schema=schema,
        model_path=path,
        metrics={"model": score(model, schema, test)},
        params=params,
        tags={"data_version": f"test-{project}-{TRAIN_ROWS[project]}", "git_commit": "test"},
        signature_frame=test[schema.feature_names].head(20),
    )
    return str(result["version"])


def build_registry(tmp_path_factory: pytest.TempPathFactory) -> Registry:
    """The projects' models in a temporary MLflow sqlite registry; built once per session."""
    if _REGISTRY:
        return _REGISTRY[0]
    tmp = tmp_path_factory.mktemp("serving")
    uri = f"sqlite:///{tmp / 'mlflow.db'}"
    with environment(MLFLOW_TRACKING_URI=uri, MLGITOPS_STATE_DIR=str(tmp / "state")):
        versions = {name: train_and_register(name, tmp) for name in SERVICES}
        from mlflow.tracking import MlflowClient

        # An alias too: a replica may be launched with MODEL_URI=models:/<name>@production.
        client = MlflowClient(tracking_uri=uri, registry_uri=uri)
        client.set_registered_model_alias("telecom-model", "production", versions["telecom"])
    _REGISTRY.append(Registry(uri, versions, tmp))
    return _REGISTRY[0]


def metric_samples(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    samples: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append((sample.labels, sample.value))
    return samples
