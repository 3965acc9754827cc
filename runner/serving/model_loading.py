"""Loading the registered model once, predicting with it, and describing it.

The model is the scikit-learn Pipeline registered with the mlflow.sklearn flavour. It is
loaded once with ``mlflow.sklearn.load_model`` and then called directly (no pyfunc
wrapper, no per-request schema enforcement): the request was already validated by the
project's pydantic record.

Small requests (up to ``FAST_MAX_ROWS`` records) go through the fast path when the load
found it bitwise identical to the pipeline (runner.serving.fastcheck); a record the fast
path does not replicate, and every larger batch, goes through the pipeline.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from runner.errors import RegistryError
from runner.serving.config import ServingConfig
from runner.serving.definition import SAMPLE_REQUEST, ServiceDefinition
from runner.serving.fastcheck import FAST_MAX_ROWS, Decision, decide, fast_output

log = logging.getLogger("mlgitops.serving")

# Run tags the training code writes (runner/ml); the first one present wins.
DATA_VERSION_TAGS = ("data_version", "dvc_data_hash", "mlgitops.data_version", "data.version")
GIT_COMMIT_TAGS = ("git_commit", "mlgitops.git_commit", "mlflow.source.git.commit")
TRAINED_AT_TAGS = ("trained_at", "mlgitops.trained_at")


@dataclass
class LoadedModel:
    """A model that loaded and passed its self-test; immutable once published."""

    definition: ServiceDefinition
    model: Any
    name: str
    version: str
    run_id: str
    info: dict[str, Any]
    sample: dict[str, Any] = field(default_factory=dict)  # the health self-test input
    fast: Decision = field(default_factory=lambda: Decision(None, "not built"))

    def output(self, rows: list[dict[str, Any]]) -> Any:
        """``predict_proba`` (classification) or ``predict`` of the pipeline, for ``rows``."""
        fast = self.fast.fast
        if fast is not None and len(rows) <= FAST_MAX_ROWS:
            out = fast_output(fast, rows)
            if out is not None:
                return out
        frame = self.definition.frame(rows)
        if self.definition.task == "classification":
            return self.model.predict_proba(frame)
        return self.model.predict(frame)

    def predict(
        self, rows: list[dict[str, Any]]
    ) -> tuple[list[dict[str, Any]], list[str], list[float]]:
        """Predictions for ``rows``, plus the outcomes and values for the metrics."""
        definition = self.definition
        if definition.task == "classification":
            proba = self.output(rows)
            labels = self.model.classes_[proba.argmax(axis=1)].tolist()
            # Binary models: the last column is the positive class (classes_ are sorted).
            values = proba[:, -1].tolist()
            extra = definition.extra
            out = []
            for label, p in zip(labels, values, strict=True):
                item: dict[str, Any] = {"prediction": label, "probability": p}
                if extra is not None:
                    item.update(extra(p))
                out.append(item)
            return out, [str(label) for label in labels], values
        values = self.output(rows).tolist()
        return [{"prediction": v} for v in values], ["value"] * len(values), values


@dataclass
class ModelHolder:
    """Shared between the loader thread and the request handlers.

    ``loaded`` is assigned once, as a whole object, so readers never see half a model.
    """

    state: str = "loading"  # loading -> ready | failed
    reason: str = "model is loading"
    loaded: LoadedModel | None = None
    # False while the launcher has yet to open the public port (set after the model is
    # ready): /health stays 503 until then, so "healthy" means "taking public traffic".
    public_open: bool = True
    started: float = field(default_factory=time.time)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def publish(self, loaded: LoadedModel) -> None:
        with self._lock:
            self.loaded = loaded
            self.state, self.reason = "ready", ""

    def fail(self, reason: str) -> None:
        with self._lock:
            self.loaded = None
            self.state, self.reason = "failed", reason


def self_test(loaded: LoadedModel) -> None:
    """Predict the sample record; raise if the model cannot or answers nonsense."""
    record = loaded.definition.record.model_validate(loaded.sample)
    predictions, _, values = loaded.predict([record.model_dump()])
    if len(predictions) != 1 or not all(math.isfinite(v) for v in values):
        raise RegistryError(f"self-test prediction is not usable: {predictions}")


def load(
    config: ServingConfig, definition: ServiceDefinition, sample: dict[str, Any]
) -> LoadedModel:
    """Resolve the configured model in the registry, load it, describe it and self-test it."""
    import mlflow
    import mlflow.sklearn
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    uri = config.resolved_model_uri
    if uri is None:
        raise RegistryError("no model configured: set MODEL_VERSION or MODEL_URI")
    if config.tracking_uri:
        from runner.ml.registry import client_for

        client = client_for(config.tracking_uri)
    else:  # MLFLOW_TRACKING_URI from the environment, as mlflow reads it
        client = MlflowClient()
    try:
        name, version, run_id, version_tags = _resolve(client, config, uri)
        model = mlflow.sklearn.load_model(uri)
        info = describe(client, name, version, run_id, version_tags)
    except MlflowException as exc:
        first = str(exc.message).splitlines()[0] if exc.message else type(exc).__name__
        raise RegistryError(f"cannot load {uri}: {first}") from None
    loaded = LoadedModel(definition, model, name, version, run_id, info, sample)
    self_test(loaded)  # the pipeline alone first: a broken model fails here, fast path or not
    samples = [sample, *_batch_samples(config)]
    loaded.fast = decide(model, definition, samples, enabled=config.fastpath)
    info.update(loaded.fast.describe())
    log.info("%s: %s", "fast path" if loaded.fast.fast else "pipeline path", loaded.fast.reason)
    self_test(loaded)
    return loaded


def _batch_samples(config: ServingConfig) -> list[dict[str, Any]]:
    """The project's sample batch, if it has one: more reference rows for the fast path."""
    path = config.project_dir / SAMPLE_REQUEST.with_name("sample_batch.json")
    try:
        records = json.loads(path.read_text()).get("records", [])
    except (OSError, ValueError, AttributeError):
        return []
    return [r for r in records if isinstance(r, dict)]


def _resolve(
    client: Any, config: ServingConfig, uri: str
) -> tuple[str, str, str, dict[str, str]]:
    """(name, version, run id, version tags) of ``uri``: registry versions, aliases, or a run."""
    if uri.startswith("models:/"):
        rest = uri.removeprefix("models:/")
        if "@" in rest:
            name, alias = rest.split("@", 1)
            mv = client.get_model_version_by_alias(name, alias)
        else:
            name, _, version = rest.partition("/")
            mv = client.get_model_version(name, version)
        return str(mv.name), str(mv.version), str(mv.run_id or ""), dict(mv.tags or {})
    if uri.startswith("runs:/"):
        run_id = uri.removeprefix("runs:/").split("/", 1)[0]
        return config.model_name, config.model_version or "run", run_id, {}
    return config.model_name, config.model_version or "local", "", {}


def describe(
    client: Any, name: str, version: str, run_id: str, version_tags: dict[str, str]
) -> dict[str, Any]:
    """What GET /model_info returns, read from the registry version and its training run.

    Tags on the model version win over the run's (runner.ml.registry sets both).
    """
    info: dict[str, Any] = {
        "name": name,
        "version": version,
        "run_id": run_id,
        "metrics": {},
        "params": {},
        "trained_at": None,
        "data_version": None,
        "git_commit": None,
        "tags": {},
    }
    run_tags: dict[str, str] = {}
    stamp = None
    if run_id:
        run = client.get_run(run_id)
        stamp = run.info.end_time or run.info.start_time
        run_tags = dict(run.data.tags)
        info["metrics"] = dict(run.data.metrics)
        info["params"] = dict(run.data.params)
    all_tags = {**run_tags, **version_tags}
    tags = {k: v for k, v in all_tags.items() if not k.startswith("mlflow.")}
    info["tags"] = tags
    info["data_version"] = _first(all_tags, DATA_VERSION_TAGS)
    info["git_commit"] = _first(all_tags, GIT_COMMIT_TAGS)
    trained = _first(all_tags, TRAINED_AT_TAGS)
    if trained is None and stamp:
        trained = dt.datetime.fromtimestamp(stamp / 1000, tz=dt.UTC).isoformat()
    info["trained_at"] = trained
    return info


def _first(tags: dict[str, str], keys: tuple[str, ...]) -> str | None:
    for key in keys:
        if tags.get(key):
            return tags[key]
    return None
