"""Steps inside the registered pipelines that turn a raw request frame into model features.

They are plain module-level functions used through ``FunctionTransformer``: pickle stores
them by reference (``runner.ml.features.<name>``), so a process that loads a registered
model needs the ``runner`` package importable (the serving image installs it) and
nothing else. Changing what a function computes changes every model that references
it, so add a new function rather than editing one that registered models use.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd


def clean_input(
    frame: pd.DataFrame, numeric: Sequence[str] = (), categorical: Sequence[str] = ()
) -> pd.DataFrame:
    """Make request frames and training frames look the same to the encoders.

    JSON nulls arrive as None; imputers only see NaN. A numeric column with only nulls is
    object-typed in pandas and would break the imputer, so numerics are coerced here.
    """
    import numpy as np
    import pandas as pd

    df = frame.copy()
    for name in numeric:
        if name in df.columns:
            df[name] = pd.to_numeric(df[name], errors="coerce").astype("float64")
    for name in categorical:
        if name in df.columns:
            col = df[name].astype(object)
            df[name] = col.where(col.notna(), np.nan).map(
                lambda v: v if isinstance(v, float) else str(v)
            )
    return df


def car_features(frame: pd.DataFrame) -> pd.DataFrame:
    """carvision: brand (first word of model), posting year and month, age and yearly mileage.

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


# Columns each derivation adds (numeric, categorical) and removes, so the preprocessing
# step that follows can be built from the schema without running the function first.
DERIVED: dict[str, tuple[str, tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = {
    "carvision": (
        "car_features",
        ("posted_year", "posted_month", "vehicle_age", "miles_per_year"),
        ("brand",),
        ("date_posted",),
    ),
}
