"""carvision's derived features, computed inside the registered pipeline.

The fitted pipeline stores ``car_features`` by reference
(``projects.carvision.features.car_features``): a process that loads a carvision model
loads this project first (``runner.ml.project.load_project``; serving does it at start).
Changing what the function computes changes every model that references it, so add a
new function rather than editing this one while registered models use it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from runner.ml.schemas import Derivation

if TYPE_CHECKING:
    import pandas as pd


def car_features(frame: pd.DataFrame) -> pd.DataFrame:
    """Brand (first word of model), posting year and month, age and yearly mileage.

    ``date_posted`` is an ISO date string in the CSV and in requests; it is replaced by the
    parts a tree can use. Unparseable or missing parts become NaN and are imputed later.
    """
    import numpy as np
    import pandas as pd

    df = frame.copy()
    model = df["model"].astype(object).where(df["model"].notna(), None)
    df["brand"] = model.map(
        lambda v: str(v).strip().lower().split(" ")[0] if v and str(v).strip() else np.nan
    )
    posted = pd.to_datetime(df["date_posted"], errors="coerce", format="mixed")
    df["posted_year"] = posted.dt.year.astype("float64")
    df["posted_month"] = posted.dt.month.astype("float64")
    year = pd.to_numeric(df["model_year"], errors="coerce")
    age = (df["posted_year"] - year).clip(lower=0)
    df["vehicle_age"] = age
    odometer = pd.to_numeric(df["odometer"], errors="coerce")
    df["miles_per_year"] = odometer / (age + 1.0)
    return df.drop(columns=["date_posted"])


DERIVATION = Derivation(
    func=car_features,
    numeric=("posted_year", "posted_month", "vehicle_age", "miles_per_year"),
    categorical=("brand",),
    dropped=("date_posted",),
)
