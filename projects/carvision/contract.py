"""carvision's data contract: the raw columns of ``vehicles_us.csv`` and the derived features.

Read by the toolkit through ``runner.ml.project.load_project`` (training, serving, drift).
The model sees more than these columns: ``features.py`` derives brand, vehicle age and
yearly mileage inside the pipeline (``derivation`` below).

``days_listed`` (how long the ad stayed up) is in the file but is not a feature: it is
known only once the ad is taken down, after the price was set, and on real listings it
follows the price (overpriced cars stay up longer), so a model that used it would learn
from the answer and could not be asked before the listing ends.

The service also speaks the original CarVision API (``LEGACY``): ``drive`` instead of
``is_4wd``, every field but ``model_year`` and ``model`` optional with that API's
defaults, and ``predicted_price`` in the answer.
"""

from __future__ import annotations

from runner.ml.schemas import REQUEST_DATE, Column, DatasetSchema, LegacyApi, RequestAlias

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

# The original service: DuqueOM/ML-MLOps-Portfolio, CarVision-Market-Intelligence/app/
# fastapi_app.py (VehicleFeatures, PredictionResponse) and docs/api/rest-apis.md.
LEGACY = LegacyApi(
    source="DuqueOM/ML-MLOps-Portfolio CarVision-Market-Intelligence/app/fastapi_app.py",
    aliases=(
        RequestAlias("drive", "is_4wd", values={"4wd": 1, "fwd": 0, "rwd": 0},
                     description="4wd, fwd or rwd (original API); sets is_4wd"),
    ),
    ignored={
        "manufacturer": "the brand is read from model",
        "days_listed": "known only after the listing ends; not a feature",
    },
    response={"predicted_price": "prediction"},
)

CONTRACT = DatasetSchema(
    project="carvision",
    raw_file="vehicles_us.csv",
    task="regression",
    model_name="carvision-model",
    primary_metric="r2",
    target=Column("price", "float", 0, 1_000_000, description="asking price in USD"),
    dropped=("days_listed",),
    # Defaults are the original API's (a request that leaves a field out); null is
    # still "unknown" for the nullable ones and is imputed by the model.
    features=(
        Column("model_year", "int", 1900, 2030, nullable=True, max_null_share=0.5),
        Column("model", "text", description='brand first, e.g. "ford f-150"'),
        Column("condition", "category", categories=CONDITIONS, default="good"),
        Column("cylinders", "int", 2, 16, nullable=True, max_null_share=0.5, default=4),
        Column("fuel", "category", categories=FUELS, default="gas"),
        Column("odometer", "float", 0, 2_000_000, nullable=True, max_null_share=0.5,
               default=0.0),
        Column("transmission", "category", categories=TRANSMISSIONS, default="automatic"),
        Column("type", "category", categories=TYPES, default="sedan"),
        Column("paint_color", "category", categories=COLORS, nullable=True,
               max_null_share=0.5, default="white"),
        # The public data has 1.0 or empty (empty = not 4wd), so empty is allowed, and a
        # request's 0 is stored empty as well: the model never saw a 0 in training.
        Column("is_4wd", "binary", 0, 1, nullable=True, max_null_share=0.9, default=0,
               empty_is=0),
        # The day the price is asked for, when the request does not say (the original
        # service did the same): vehicle age is counted to it.
        Column("date_posted", "date", description="ISO date YYYY-MM-DD",
               default=REQUEST_DATE),
    ),
    example={
        "model_year": 2011, "model": "bmw x5", "condition": "good", "cylinders": 6,
        "fuel": "gas", "odometer": 145000.0, "transmission": "automatic", "type": "SUV",
        "paint_color": None, "is_4wd": 1, "date_posted": "2018-06-23",
    },
    derivation=DERIVATION,
    legacy=LEGACY,
)
