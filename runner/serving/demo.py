"""A small real model per project, trained on synthetic rows drawn from the data contract.

For serving tests and the predict benchmark when the projects' own trained models are not
at hand: the pipeline has the same shape as the projects' (imputation, one-hot encoding,
scaling, a scikit-learn estimator) and takes the same raw columns, and it is registered
with the mlflow.sklearn flavour like theirs. It is not a substitute for training: the
target is a simple function of two or three columns.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from runner.ml.schemas import DatasetSchema


def synthetic_frame(schema: DatasetSchema, rows: int, seed: int = 0) -> pd.DataFrame:
    """``rows`` rows of the schema's feature columns (clean-frame typing), some gaps included."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    data: dict[str, Any] = {}
    for col in schema.features:
        if col.categories:
            values: Any = rng.choice(list(col.categories), rows).astype(object)
        elif col.kind == "date":
            start = dt.date(2018, 5, 1).toordinal()
            days = rng.integers(0, 365, rows)
            values = np.array([dt.date.fromordinal(start + int(d)).isoformat() for d in days])
        elif col.kind == "text":
            values = rng.choice(["ford f-150", "bmw x5", "toyota camry", "honda civic"], rows)
        else:
            low = col.min if col.min is not None else 0.0
            high = col.max if col.max is not None else low + 100.0
            values = rng.uniform(low, high, rows)
            if col.kind in ("int", "binary"):
                values = np.round(values)
        if col.nullable:
            values = values.astype(object) if not col.numeric else values.astype(float)
            gaps = rng.random(rows) < 0.05
            values[gaps] = np.nan if col.numeric else None
        data[col.name] = values if col.numeric else np.asarray(values, dtype=object)
    return pd.DataFrame(data)


def _target(schema: DatasetSchema, frame: pd.DataFrame, seed: int) -> Any:
    """A learnable target: a function of the first two numeric columns, plus noise."""
    import numpy as np

    rng = np.random.default_rng(seed + 1)
    numeric = [c for c in schema.features if c.numeric][:2]
    score = np.zeros(len(frame))
    for col in numeric:
        span = (col.max or 1.0) - (col.min or 0.0) or 1.0
        score += np.nan_to_num((frame[col.name].to_numpy(float) - (col.min or 0.0)) / span, nan=0.5)
    score += rng.normal(0, 0.1, len(frame))
    if schema.task == "classification":
        return (score > np.median(score)).astype(int)
    return 1000.0 + 20000.0 * score


def build_pipeline(schema: DatasetSchema) -> Any:
    """Impute, scale and one-hot encode the raw columns, then a linear estimator."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.pipeline import Pipeline, make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    numeric = [c.name for c in schema.features if c.numeric]
    other = [c.name for c in schema.features if not c.numeric]
    steps = [("num", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), numeric)]
    if other:
        cat = make_pipeline(
            SimpleImputer(missing_values=None, strategy="constant", fill_value="missing"),
            OneHotEncoder(handle_unknown="ignore"),
        )
        steps.append(("cat", cat, other))
    estimator = LogisticRegression(max_iter=500) if schema.task == "classification" else Ridge()
    return Pipeline([("features", ColumnTransformer(steps)), ("model", estimator)])


def register_demo_model(
    schema: DatasetSchema, tracking_uri: str, *, rows: int = 400, seed: int = 0
) -> str:
    """Train on synthetic rows, log and register as ``schema.model_name``; return the version."""
    import mlflow
    import mlflow.sklearn
    import skops.io
    from mlflow.models import infer_signature

    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_experiment(f"{schema.project}-demo")
    frame = synthetic_frame(schema, rows, seed)
    target = _target(schema, frame, seed)
    pipeline = build_pipeline(schema).fit(frame, target)
    # mlflow saves sklearn models with skops (no pickle); it refuses types it does not know,
    # and the imputer of object columns keeps a numpy dtype. Trust exactly what it holds.
    trusted = skops.io.get_untrusted_types(data=skops.io.dumps(pipeline))
    with mlflow.start_run() as run:
        mlflow.log_metric("train_rows", rows)
        mlflow.set_tags({"data_version": f"synthetic-{seed}-{rows}", "git_commit": "demo"})
        info = mlflow.sklearn.log_model(
            pipeline,
            name="model",
            registered_model_name=schema.model_name,
            signature=infer_signature(frame.head(20), pipeline.predict(frame.head(20))),
            pip_requirements=["scikit-learn", "pandas"],
            skops_trusted_types=trusted,
        )
    version = info.registered_model_version
    if version is None:
        raise RuntimeError(f"run {run.info.run_id}: model was not registered")
    return str(version)
