"""carvision's data contract: the raw columns of ``vehicles_us.csv`` and the derived features.

Read by the toolkit through ``runner.ml.project.load_project`` (training, serving, drift).
The model sees more than these columns: ``features.py`` derives brand, vehicle age and
yearly mileage inside the pipeline (``derivation`` below).
"""

from __future__ import annotations

from runner.ml.schemas import Column, DatasetSchema

from .features import DERIVATION

CONDITIONS = ("new", "like new", "excellent", "good", "fair", "salvage")
FUELS = ("gas", "diesel", "hybrid", "electric", "other")
TRANSMISSIONS = ("automatic", "manual", "other")
TYPES = (
    "SUV", "bus", "convertible", "coupe", "hatchback", "mini-van", "offroad", "other",
    "pickup", "sedan", "truck", "van", "wagon",
)
COLORS = (
    "black", "blue", "brown", "custom", "green", "grey", "orange", "purple", "red",
    "silver", "white", "yellow",
)

CONTRACT = DatasetSchema(
    project="carvision",
    raw_file="vehicles_us.csv",
    task="regression",
    model_name="carvision-model",
    primary_metric="r2",
    target=Column("price", "float", 0, 1_000_000, description="asking price in USD"),
    features=(
        Column("model_year", "int", 1900, 2030, nullable=True, max_null_share=0.5),
        Column("model", "text", description='brand first, e.g. "ford f-150"'),
        Column("condition", "category", categories=CONDITIONS),
        Column("cylinders", "int", 2, 16, nullable=True, max_null_share=0.5),
        Column("fuel", "category", categories=FUELS),
        Column("odometer", "float", 0, 2_000_000, nullable=True, max_null_share=0.5),
        Column("transmission", "category", categories=TRANSMISSIONS),
        Column("type", "category", categories=TYPES),
        Column("paint_color", "category", categories=COLORS, nullable=True,
               max_null_share=0.5),
        # The public data has 1.0 or empty (empty = not 4wd), so empty is allowed.
        Column("is_4wd", "binary", 0, 1, nullable=True, max_null_share=0.9),
        Column("date_posted", "date", description="ISO date YYYY-MM-DD"),
        Column("days_listed", "int", 0, 1000),
    ),
    example={
        "model_year": 2011, "model": "bmw x5", "condition": "good", "cylinders": 6,
        "fuel": "gas", "odometer": 145000.0, "transmission": "automatic", "type": "SUV",
        "paint_color": None, "is_4wd": 1, "date_posted": "2018-06-23", "days_listed": 19,
    },
    derivation=DERIVATION,
)
