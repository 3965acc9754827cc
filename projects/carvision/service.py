"""carvision serving surface: request record from the data contract; predicts a price.

Served by ``python -m runner.serving.launch`` (MLGITOPS_PROJECT_DIR=projects/carvision).
"""

from __future__ import annotations

from typing import Any

from runner.serving.records import from_schema, prediction_timestamp

from .contract import CONTRACT

# Prediction value histogram bounds, in USD: the price range of the listings.
PRICE_BUCKETS = (
    1000.0,
    2500.0,
    5000.0,
    7500.0,
    10000.0,
    15000.0,
    20000.0,
    30000.0,
    50000.0,
    100000.0,
)



def answer_fields(_: float) -> dict[str, Any]:
    """The original CarVision API's prediction_timestamp (predicted_price is an alias)."""
    return {"prediction_timestamp": prediction_timestamp()}


SERVICE = from_schema(CONTRACT, extra=answer_fields, value_buckets=PRICE_BUCKETS)
