"""Generate a bank customer churn data set shaped like the public ``Churn.csv``.

Seeded and deterministic: the same ``--rows``/``--seed``/``--shift`` give the same bytes,
so DVC's hash of the file is a stable data version. Churn follows the patterns the public
data shows (older, inactive, German, female customers and those holding 3-4 products
leave more often), with its defects: about 9% of Tenure missing, a third of balances at
exactly 0, skewed ages. ``--shift`` (0 = none, 1 = strong) moves the customer mix older,
more German and lower-scoring, for drift drills.

    python generate.py --rows 10000 --seed 42 --out data/raw/Churn.csv
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from runner.ml import generator_cli

SURNAMES = (
    "Hargrave", "Hill", "Onio", "Boni", "Mitchell", "Chu", "Bartlett", "Obinna", "He",
    "H?", "Bearce", "Andrews", "Kay", "Chin", "Scott", "Goforth", "Romeo", "Henderson",
    "Muldrow", "Hao", "McDonald", "Dellucci", "Gerasimov", "Mosman", "Yen", "Maclean",
    "Young", "Nebechi", "McWilliams", "Lucciano", "Azikiwe", "Odinakachukwu", "Sanderson",
    "Maggard", "Clements", "Lombardo", "Watson", "Lorenzo", "Andreasen", "Ferri",
)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def generate(rows: int = 10_000, seed: int = 42, shift: float = 0.0) -> pd.DataFrame:
    """The data set as a frame, columns in the public file's order."""
    rng = np.random.default_rng(seed)
    n = rows

    german = 0.25 + 0.25 * shift
    geography = rng.choice(
        ["France", "Spain", "Germany"], size=n, p=[(1 - german) * 2 / 3, (1 - german) / 3, german]
    )
    gender = rng.choice(["Male", "Female"], size=n, p=[0.545, 0.455])
    # Right-skewed ages around 39, like the public data; drift ages the customer base.
    age = np.clip(np.round(18 + rng.gamma(3.3, 6.4 + 2.5 * shift, n)), 18, 92)
    credit = np.clip(np.round(rng.normal(650 - 40 * shift, 97, n)), 350, 850)
    # Drift also brings newer customers (shorter tenure) with fewer cards; shift 0 keeps the
    # same draws and values, so the default data set (and its DVC hash) does not change.
    tenure = np.floor(rng.integers(0, 11, n) * max(0.0, 1 - 0.35 * shift))
    # Germany has almost no zero balances in the public data; France and Spain about 45%.
    zero_p = np.where(geography == "Germany", 0.02, 0.47)
    zero_balance = rng.random(n) < zero_p
    balance = np.where(
        zero_balance, 0.0,
        np.round(np.clip(rng.normal(119_000 + 15_000 * shift, 30_000, n), 3_000, 251_000), 2),
    )
    # Zero-balance customers mostly hold two products (a card and a current account).
    products = np.where(
        zero_balance,
        rng.choice([1, 2, 3, 4], size=n, p=[0.37, 0.60, 0.025, 0.005]),
        rng.choice([1, 2, 3, 4], size=n, p=[0.58, 0.37, 0.04, 0.01]),
    )
    has_card = (rng.random(n) < 0.70 - 0.15 * shift).astype(int)
    active = (rng.random(n) < 0.515 - 0.1 * shift).astype(int)
    salary = np.round(rng.uniform(11.58, 199_992.48, n), 2)

    # Log-odds of leaving: a hump in the 45-60 age band, strong product-count effect,
    # inactivity that bites harder with age, geography, gender and a little credit score.
    logit = (
        -1.95
        + 0.07 * (age - 40)
        + 2.4 * np.exp(-(((age - 54) / 11) ** 2))
        - 1.5 * active
        - 0.03 * active * np.maximum(age - 40, 0)
        + np.select(
            [products == 1, products == 2, products == 3, products == 4],
            [0.0, -2.0, 2.6, 4.5],
        )
        + 1.0 * (geography == "Germany")
        + 0.7 * (gender == "Female")
        + 0.25 * (balance > 0)
        - 0.0015 * (credit - 650)
        - 0.25 * (credit < 450)
        + rng.normal(0, 0.2, n)
    )
    exited = (rng.random(n) < _sigmoid(logit)).astype(int)

    # About 9% of tenures were never recorded.
    tenure[rng.random(n) < 0.09] = np.nan

    return pd.DataFrame({
        "RowNumber": np.arange(1, n + 1),
        "CustomerId": 15_565_701 + rng.permutation(n * 3)[:n],
        "Surname": rng.choice(SURNAMES, size=n),
        "CreditScore": credit.astype(int),
        "Geography": geography,
        "Gender": gender,
        "Age": age.astype(int),
        "Tenure": tenure,
        "Balance": balance,
        "NumOfProducts": products,
        "HasCrCard": has_card,
        "IsActiveMember": active,
        "EstimatedSalary": salary,
        "Exited": exited,
    })


def main(argv: list[str] | None = None) -> None:
    generator_cli.run(generate, rows=10_000, out="data/raw/Churn.csv",
                      description=__doc__.splitlines()[0], argv=argv)


if __name__ == "__main__":
    main()
