"""MLflow tracking and registry: where it lives, registering a model, reading a version back.

The embedded default is sqlite under the state dir with artifacts in
``<state>/mlflow/artifacts/<experiment>``, set per experiment as an absolute file URI so a
``mlflow server`` on the same database and direct sqlite clients resolve the same files.

Models are stored in the skops format (MLflow 3's default, no arbitrary code on load)
with the allow-list of our own types. Registration is idempotent on the model file's
sha256: registering the same trained model again (``dvc repro --force``, a fresh clone
against an existing registry) returns the version that holds it instead of a copy.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runner.errors import RegistryError, TemporaryError
from runner.ml.schemas import DatasetSchema
from runner.state import paths

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient


def state_dir(root: Path) -> Path:
    """``MLGITOPS_STATE_DIR``, else ``<root>/.state`` (absolute, created)."""
    return paths.state_dir(root)


def tracking_uri(root: Path) -> str:
    """``MLFLOW_TRACKING_URI``, else ``sqlite:///<abs state dir>/mlflow/mlflow.db``."""
    state = state_dir(root)
    (state / "mlflow").mkdir(parents=True, exist_ok=True)
    return paths.tracking_uri(state)


def artifact_location(root: Path, experiment: str) -> str:
    """Absolute file URI of an experiment's artifact folder."""
    return (state_dir(root) / "mlflow" / "artifacts" / experiment).as_uri()


def client(root: Path) -> MlflowClient:
    """A client for tracking and registry at :func:`tracking_uri`; sets mlflow's globals too."""
    return client_for(tracking_uri(root))


def client_for(uri: str, *, set_globals: bool = True) -> MlflowClient:
    """The one way we open MLflow: tracking and registry pinned to the same store ``uri``.

    ``mlflow.set_registry_uri`` exports ``MLFLOW_REGISTRY_URI`` to child processes, and a
    registry URI inherited from a parent would otherwise win over the tracking URI, so
    both are always set together (``set_globals`` also for mlflow's fluent API)."""
    import mlflow
    from mlflow.tracking import MlflowClient

    if set_globals:
        mlflow.set_tracking_uri(uri)
        mlflow.set_registry_uri(uri)
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def ensure_experiment(mlc: MlflowClient, root: Path, name: str) -> str:
    """The experiment's id, creating it with the state dir's artifact location if new."""
    found = mlc.get_experiment_by_name(name)
    if found is not None:
        return str(found.experiment_id)
    return str(mlc.create_experiment(name, artifact_location=artifact_location(root, name)))


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def file_md5(path: Path) -> str:
    """The hash DVC 3 records for a file (``md5`` in dvc.lock): our data version."""
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def find_version(mlc: MlflowClient, name: str, model_sha256: str) -> Any | None:
    """The registered version whose ``model_sha256`` tag matches, or None."""
    from mlflow.exceptions import MlflowException

    try:
        versions = mlc.search_model_versions(f"name='{name}'")
    except MlflowException:
        return None
    matches = [v for v in versions if v.tags.get("model_sha256") == model_sha256]
    return min(matches, key=lambda v: int(v.version)) if matches else None


# skops refuses to load types it does not know unless the model lists them as trusted.
# We list what our own pipelines are made of, and nothing else: a model holding another
# type fails at registration (MLflow checks on save) with the type named, and the type
# must be added here on purpose. A fixed list also saves an extra skops dump (seconds).
# The project's own derivation function (projects/<name>/features.py) is added per model.
TRUSTED_TYPES = [
    "functools.partial",
    "numpy.dtype",
    "runner.ml.features.clean_input",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.utils.validation.check_array",
]


def trusted_types(schema: DatasetSchema) -> list[str]:
    """The allow-list for one project's models: ours plus its derivation function."""
    derived = [schema.derivation.qualified_name] if schema.derivation is not None else []
    return sorted({*TRUSTED_TYPES, *derived})


def _flatten(prefix: str, value: Any, out: dict[str, Any]) -> None:
    if isinstance(value, dict):
        for key, inner in value.items():
            _flatten(f"{prefix}.{key}" if prefix else str(key), inner, out)
    else:
        out[prefix] = value


def register(
    *,
    root: Path,
    schema: DatasetSchema,
    model_path: Path,
    metrics: dict[str, Any],
    params: dict[str, Any],
    tags: dict[str, str],
    signature_frame: Any,
) -> dict[str, Any]:
    """Log the run (params, metrics, tags, model) and register it; return what was registered.

    ``metrics`` is the content of metrics.json: ``model`` metrics are logged under their
    own names, each baseline's as ``<baseline>_<metric>``.
    """
    import joblib
    import mlflow
    import mlflow.sklearn
    import numpy as np
    import pandas as pd
    import sklearn
    from mlflow.exceptions import MlflowException
    from mlflow.models import infer_signature

    sha = file_sha256(model_path)
    try:
        mlc = client(root)
        existing = find_version(mlc, schema.model_name, sha)
        if existing is not None:
            return {"model_name": schema.model_name, "version": int(existing.version),
                    "run_id": existing.run_id, "model_sha256": sha, "new": False}

        model = joblib.load(model_path)
        flat_metrics: dict[str, float] = dict(metrics["model"])
        for base, values in metrics.get("baselines", {}).items():
            flat_metrics.update({f"{base}_{k}": v for k, v in values.items()})
        flat_params: dict[str, Any] = {}
        _flatten("", params, flat_params)
        trained_at = datetime.fromtimestamp(model_path.stat().st_mtime, UTC)
        all_tags = {
            **tags,
            "project": schema.project,
            "model_sha256": sha,
            "trained_at": trained_at.isoformat(timespec="seconds"),
            "primary_metric": schema.primary_metric,
        }
        output = (model.predict_proba(signature_frame)[:, 1] if schema.task == "classification"
                  else model.predict(signature_frame))
        signature = infer_signature(signature_frame, pd.Series(np.asarray(output)))
        requirements = [
            f"mlflow=={mlflow.__version__}",
            f"scikit-learn=={sklearn.__version__}",
            f"pandas=={pd.__version__}",
            f"numpy=={np.__version__}",
            f"cloudpickle=={__import__('cloudpickle').__version__}",
        ]
        experiment_id = ensure_experiment(mlc, root, schema.project)
        with mlflow.start_run(experiment_id=experiment_id,
                              run_name=f"{schema.project}-{tags.get('data_version', '')[:8]}"):
            mlflow.log_params(flat_params)
            mlflow.log_metrics(flat_metrics)
            mlflow.set_tags(all_tags)
            info = mlflow.sklearn.log_model(
                model, name="model", registered_model_name=schema.model_name,
                signature=signature, pip_requirements=requirements,
                serialization_format="skops", skops_trusted_types=trusted_types(schema),
            )
        version = int(info.registered_model_version)
        for key, value in all_tags.items():
            mlc.set_model_version_tag(schema.model_name, str(version), key, value)
        mlc.set_model_version_tag(schema.model_name, str(version), "metrics",
                                  json.dumps(metrics["model"], sort_keys=True))
        mlc.update_model_version(
            schema.model_name, str(version),
            description=f"{schema.primary_metric}={metrics['model'][schema.primary_metric]:.4f} "
                        f"on data {tags.get('data_version', '?')[:12]}",
        )
    except MlflowException as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise TemporaryError(f"MLflow at {tracking_uri(root)}: {first}") from None
    return {"model_name": schema.model_name, "version": version, "run_id": info.run_id,
            "model_sha256": sha, "new": True}


def version_info(root: Path, name: str, version: int | str) -> dict[str, Any]:
    """What serving's /model_info and the reconcile gate need about one registered version."""
    from mlflow.exceptions import MlflowException

    mlc = client(root)
    try:
        mv = mlc.get_model_version(name, str(version))
        run = mlc.get_run(str(mv.run_id))
    except MlflowException:
        raise RegistryError(f"{name} version {version} is not registered at "
                            f"{tracking_uri(root)}") from None
    return {
        "name": name,
        "version": int(mv.version),
        "run_id": mv.run_id,
        "metrics": dict(run.data.metrics),
        "trained_at": mv.tags.get("trained_at"),
        "data_version": mv.tags.get("data_version"),
        "git_commit": mv.tags.get("git_commit"),
        "tags": dict(mv.tags),
    }
