"""bankchurn serving surface: request record from the data contract, plus a risk level.

Served by ``python -m runner.serving.launch`` (MLGITOPS_PROJECT_DIR=projects/bankchurn).
"""

from __future__ import annotations

from typing import Any

from runner.serving.records import from_schema

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


SERVICE = from_schema(CONTRACT, extra=risk_level)
