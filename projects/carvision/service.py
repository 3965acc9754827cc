"""carvision serving surface: request record from the data contract; predicts a price.

Served by ``python -m runner.serving.launch`` (MLGITOPS_PROJECT_DIR=projects/carvision).
"""

from __future__ import annotations

from runner.serving.records import from_schema

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

SERVICE = from_schema(CONTRACT, value_buckets=PRICE_BUCKETS)
