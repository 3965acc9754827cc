"""bankchurn serving surface: request record from the data contract, plus a risk level.

Served by ``python -m runner.serving.launch`` (MLGITOPS_PROJECT_DIR=projects/bankchurn).
"""

from __future__ import annotations

from typing import Any

from runner.serving.records import from_schema, prediction_timestamp

from .contract import CONTRACT

# The retention team's bands on the churn probability (issue 3).
MEDIUM_FROM = 0.3
HIGH_FROM = 0.7


def risk_level(probability: float) -> dict[str, Any]:
    """LOW below 0.3, MEDIUM from 0.3 to below 0.7, HIGH from 0.7."""
    if probability >= HIGH_FROM:
        return {"risk_level": "HIGH"}
    if probability >= MEDIUM_FROM:
        return {"risk_level": "MEDIUM"}
    return {"risk_level": "LOW"}


def answer_fields(probability: float) -> dict[str, Any]:
    """risk_level, plus the original BankChurn API's confidence and prediction_timestamp.

    confidence is that API's distance from a coin toss, ``|p - 0.5| * 2``. Its
    ``feature_contributions`` are not served: they were fixed rules of thumb, not the
    model's, and would pass invented numbers off as an explanation.
    """
    return {
        **risk_level(probability),
        "confidence": abs(probability - 0.5) * 2,
        "prediction_timestamp": prediction_timestamp(),
    }


SERVICE = from_schema(CONTRACT, extra=answer_fields)
