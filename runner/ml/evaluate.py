"""Metrics of a fitted pipeline on held-out data, the same set for model and baselines.

Classifiers: roc_auc, f1, precision, recall, accuracy (the positive class is 1).
Regressors: rmse, mae, r2, mape. MAPE skips rows whose true value is below
``MAPE_FLOOR`` (placeholder prices of 0 or 1 in listings): a relative error to those is
meaningless and would swamp the mean.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from runner.ml.schemas import DatasetSchema

if TYPE_CHECKING:
    import pandas as pd

# Higher is better for these; for the others (errors) lower is better.
MAPE_FLOOR = 100.0
HIGHER_IS_BETTER = frozenset({"roc_auc", "f1", "precision", "recall", "accuracy", "r2"})


def classification_metrics(y_true: Any, proba: Any, threshold: float = 0.5) -> dict[str, float]:
    """roc_auc from probabilities; the rest from predictions at ``threshold``."""
    import numpy as np
    from sklearn.metrics import (
        accuracy_score,
        f1_score,
        precision_score,
        recall_score,
        roc_auc_score,
    )

    pred = (np.asarray(proba) >= threshold).astype(int)
    return {
        "roc_auc": float(roc_auc_score(y_true, proba)),
        "f1": float(f1_score(y_true, pred, zero_division=0)),
        "precision": float(precision_score(y_true, pred, zero_division=0)),
        "recall": float(recall_score(y_true, pred, zero_division=0)),
        "accuracy": float(accuracy_score(y_true, pred)),
    }


def regression_metrics(y_true: Any, pred: Any) -> dict[str, float]:
    import numpy as np
    from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

    y = np.asarray(y_true, dtype=float)
    p = np.asarray(pred, dtype=float)
    real = y >= MAPE_FLOOR
    mape = float(np.mean(np.abs(p[real] - y[real]) / y[real])) if real.any() else float("nan")
    return {
        "rmse": float(np.sqrt(mean_squared_error(y, p))),
        "mae": float(mean_absolute_error(y, p)),
        "r2": float(r2_score(y, p)),
        "mape": mape,
    }


def predict(model: Any, schema: DatasetSchema, frame: pd.DataFrame) -> Any:
    """What the metrics are computed from: positive-class probabilities, or predictions."""
    x = frame[schema.feature_names]
    if schema.task == "classification":
        return model.predict_proba(x)[:, 1]
    return model.predict(x)


def score(model: Any, schema: DatasetSchema, test: pd.DataFrame) -> dict[str, float]:
    """Metrics of ``model`` on ``test`` (a validated frame with the target column)."""
    y = test[schema.target.name]
    if schema.task == "classification":
        return classification_metrics(y, predict(model, schema, test))
    return regression_metrics(y, predict(model, schema, test))


def beats(model: dict[str, float], baseline: dict[str, float], metric: str) -> bool:
    """Whether the model is strictly better than the baseline on ``metric``."""
    if metric in HIGHER_IS_BETTER:
        return model[metric] > baseline[metric]
    return model[metric] < baseline[metric]


def rounded(metrics: dict[str, float], digits: int = 4) -> dict[str, float]:
    """Metrics as written to metrics.json: rounded so a retrain diff is readable."""
    return {k: round(v, digits) for k, v in metrics.items()}
