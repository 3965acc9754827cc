"""Generate used-car listings shaped like the public ``vehicles_us.csv``.

Prices follow what drives them in real listings: the model's new price, age, mileage,
condition, drive train, fuel and cylinders, with multiplicative noise (so prices are
right-skewed). The real file's defects are reproduced: model_year, cylinders, odometer,
paint_color missing for a share of rows, ``is_4wd`` as 1.0 or empty, years written as
floats, a few placeholder prices of 1. Seeded and deterministic; ``--shift`` (0 = none,
1 = strong) makes the fleet older and higher-mileage and moves the posting dates later,
for drift drills.

    python generate.py --rows 51525 --seed 42 --out data/raw/vehicles_us.csv
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from runner.ml import generator_cli

# model, price new (USD), type, usual cylinders, share sold as 4wd, share diesel
CATALOG = (
    ("ford f-150", 42_000, "truck", 8, 0.75, 0.02),
    ("ford f-250 sd", 52_000, "pickup", 8, 0.8, 0.45),
    ("ford escape", 27_000, "SUV", 4, 0.45, 0.0),
    ("ford explorer", 36_000, "SUV", 6, 0.6, 0.0),
    ("ford focus", 19_000, "sedan", 4, 0.0, 0.0),
    ("ford fusion", 23_000, "sedan", 4, 0.05, 0.0),
    ("ford mustang", 30_000, "coupe", 6, 0.0, 0.0),
    ("chevrolet silverado 1500", 41_000, "pickup", 8, 0.7, 0.02),
    ("chevrolet silverado 2500hd", 50_000, "truck", 8, 0.85, 0.4),
    ("chevrolet malibu", 23_000, "sedan", 4, 0.0, 0.0),
    ("chevrolet equinox", 26_000, "SUV", 4, 0.4, 0.0),
    ("chevrolet tahoe", 52_000, "SUV", 8, 0.65, 0.0),
    ("chevrolet camaro", 31_000, "coupe", 6, 0.0, 0.0),
    ("ram 1500", 40_000, "pickup", 8, 0.7, 0.05),
    ("ram 2500", 48_000, "truck", 6, 0.85, 0.55),
    ("gmc sierra 1500", 44_000, "pickup", 8, 0.7, 0.02),
    ("toyota camry", 25_000, "sedan", 4, 0.0, 0.0),
    ("toyota corolla", 20_000, "sedan", 4, 0.0, 0.0),
    ("toyota tacoma", 32_000, "pickup", 6, 0.6, 0.0),
    ("toyota rav4", 28_000, "SUV", 4, 0.45, 0.0),
    ("toyota 4runner", 38_000, "SUV", 6, 0.8, 0.0),
    ("toyota prius", 25_000, "hatchback", 4, 0.0, 0.0),
    ("toyota sienna", 33_000, "mini-van", 6, 0.1, 0.0),
    ("honda accord", 25_000, "sedan", 4, 0.0, 0.0),
    ("honda civic", 21_000, "sedan", 4, 0.0, 0.0),
    ("honda cr-v", 27_000, "SUV", 4, 0.45, 0.0),
    ("honda odyssey", 33_000, "mini-van", 6, 0.0, 0.0),
    ("nissan altima", 24_000, "sedan", 4, 0.0, 0.0),
    ("nissan rogue", 26_000, "SUV", 4, 0.4, 0.0),
    ("nissan frontier", 28_000, "pickup", 6, 0.5, 0.0),
    ("jeep wrangler", 33_000, "offroad", 6, 0.98, 0.03),
    ("jeep grand cherokee", 38_000, "SUV", 6, 0.75, 0.05),
    ("jeep liberty", 24_000, "SUV", 6, 0.7, 0.0),
    ("subaru outback", 29_000, "wagon", 4, 0.95, 0.0),
    ("subaru forester", 27_000, "SUV", 4, 0.95, 0.0),
    ("hyundai sonata", 24_000, "sedan", 4, 0.0, 0.0),
    ("hyundai elantra", 19_000, "sedan", 4, 0.0, 0.0),
    ("kia soul", 18_000, "hatchback", 4, 0.0, 0.0),
    ("volkswagen jetta", 21_000, "sedan", 4, 0.0, 0.08),
    ("dodge grand caravan", 28_000, "mini-van", 6, 0.0, 0.0),
    ("dodge charger", 32_000, "sedan", 8, 0.1, 0.0),
    ("chrysler 300", 32_000, "sedan", 6, 0.15, 0.0),
    ("bmw x5", 60_000, "SUV", 6, 0.9, 0.1),
    ("mercedes-benz benze sprinter 2500", 45_000, "van", 6, 0.05, 0.7),
    ("acura tl", 36_000, "sedan", 6, 0.1, 0.0),
    ("cadillac escalade", 75_000, "SUV", 8, 0.7, 0.0),
    ("buick enclave", 42_000, "SUV", 6, 0.4, 0.0),
    ("ford econoline", 34_000, "van", 8, 0.0, 0.1),
)
# Popularity: pickups and mainstream sedans dominate the public listings.
WEIGHTS = np.array([
    9, 3, 4, 4, 3, 3, 2, 8, 2, 3, 3, 2, 1, 6, 2, 3, 5, 3, 3, 3, 2, 1, 1, 4, 4, 3, 2, 3, 2, 1,
    3, 3, 1, 2, 2, 2, 2, 1, 2, 2, 2, 1, 1, 1, 1, 1, 1, 1,
], dtype=float)
CONDITION_FACTOR = {"new": 1.25, "like new": 1.12, "excellent": 1.0, "good": 0.84,
                    "fair": 0.55, "salvage": 0.32}
COLORS = ("white", "black", "silver", "grey", "blue", "red", "green", "brown", "custom",
          "yellow", "orange", "purple")
COLOR_P = np.array([20, 15, 12, 10, 9, 9, 3, 2, 2, 0.5, 0.4, 0.2])


def _condition(age: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Newer cars are in better shape; 'new' only for the current model years."""
    score = rng.normal(0, 1, len(age)) - 0.08 * age
    cond = np.select(
        [score > 1.7, score > 0.9, score > -0.75, score > -2.3, score > -3.1],
        ["like new", "excellent", "excellent", "good", "fair"],
        default="salvage",
    )
    cond = np.where((age <= 1) & (rng.random(len(age)) < 0.25), "new", cond)
    return np.where((score > -0.75) & (score <= 0.2) & (age > 6), "good", cond)


def generate(rows: int = 51_525, seed: int = 42, shift: float = 0.0) -> pd.DataFrame:
    """The data set as a frame, columns in the public file's order."""
    rng = np.random.default_rng(seed)
    n = rows
    pick = rng.choice(len(CATALOG), size=n, p=WEIGHTS / WEIGHTS.sum())
    model = np.array([CATALOG[i][0] for i in pick])
    base = np.array([CATALOG[i][1] for i in pick], dtype=float)
    ctype = np.array([CATALOG[i][2] for i in pick])
    cyl = np.array([CATALOG[i][3] for i in pick], dtype=float)
    p4wd = np.array([CATALOG[i][4] for i in pick])
    pdiesel = np.array([CATALOG[i][5] for i in pick])

    start = np.datetime64("2018-05-01") + int(round(180 * shift))
    posted = start + rng.integers(0, 354, n).astype("timedelta64[D]")
    posted_year = posted.astype("datetime64[Y]").astype(int) + 1970
    age = np.clip(np.round(rng.gamma(2.0, 4.6 + 2.0 * shift, n)), 0, 60)
    model_year = posted_year - age

    # Sometimes a trim has a different engine than the usual one.
    cyl = np.where(rng.random(n) < 0.2, cyl + rng.choice([-2, 2], n), cyl)
    cyl = np.clip(cyl, 3, 12)
    is_4wd = rng.random(n) < p4wd
    fuel = np.where(rng.random(n) < pdiesel, "diesel", "gas")
    hybrid = (model == "toyota prius") | (rng.random(n) < 0.006)
    fuel = np.where(hybrid, "hybrid", fuel)
    fuel = np.where(rng.random(n) < 0.004, "other", fuel)
    fuel = np.where(rng.random(n) < 0.0008, "electric", fuel)
    transmission = rng.choice(["automatic", "manual", "other"], n, p=[0.91, 0.055, 0.035])
    ctype = np.where(rng.random(n) < 0.03, "other", ctype)
    color = rng.choice(COLORS, n, p=COLOR_P / COLOR_P.sum())
    condition = _condition(age, rng)
    miles_per_year = rng.lognormal(np.log(12_500 * (1 + 0.3 * shift)), 0.35, n)
    odometer = np.round((age + rng.random(n)) * miles_per_year)
    days_listed = np.round(rng.gamma(2.0, 20.0, n))

    cond_factor = np.vectorize(CONDITION_FACTOR.get)(condition)
    # Trucks and 4wd hold value better; diesel trucks carry a premium.
    keep = np.where(np.isin(ctype, ["truck", "pickup", "offroad"]), 0.89, 0.855)
    log_price = (
        np.log(base)
        + age * np.log(keep)
        - 0.0000022 * np.maximum(odometer - age * 12_500, 0)
        + np.log(cond_factor)
        + 0.13 * is_4wd
        + 0.28 * ((fuel == "diesel") & np.isin(ctype, ["truck", "pickup"]))
        + 0.04 * (cyl - 6)
        - 0.05 * (transmission == "manual")
        + rng.normal(0, 0.22, n)
    )
    price = np.round(np.clip(np.exp(log_price), 500, None) / 5) * 5
    # Placeholder prices ("call for price" listings) that real scrapes contain.
    price[rng.random(n) < 0.002] = 1

    def gaps(share: float) -> np.ndarray:
        return rng.random(n) < share

    frame = pd.DataFrame({
        "price": price.astype(int),
        "model_year": np.where(gaps(0.07), np.nan, model_year.astype(float)),
        "model": model,
        "condition": condition,
        "cylinders": np.where(gaps(0.10), np.nan, cyl),
        "fuel": fuel,
        "odometer": np.where(gaps(0.15), np.nan, odometer),
        "transmission": transmission,
        "type": ctype,
        "paint_color": np.where(gaps(0.18), None, color),
        # The public file stores 4wd as 1.0 and leaves non-4wd cars empty.
        "is_4wd": np.where(is_4wd, 1.0, np.nan),
        "date_posted": pd.to_datetime(posted).strftime("%Y-%m-%d"),
        "days_listed": days_listed.astype(int),
    })
    return frame


def main(argv: list[str] | None = None) -> None:
    generator_cli.run(generate, rows=51_525, out="data/raw/vehicles_us.csv",
                      description=__doc__.splitlines()[0], argv=argv)


if __name__ == "__main__":
    main()
