"""Generate mobile-plan usage data shaped like the public ``users_behavior.csv``.

One row per subscriber-month: calls, minutes, messages, mb_used (floats, as in the public
file) and ``is_ultra`` (about 30% on the Ultra plan). Ultra subscribers use more data,
talk longer and text more, with a lot of overlap, so the plan is learnable but not
trivially so. The defects of real usage data are here too: heavy right skew, many months
with no texts at all, and a few idle months with no calls. Seeded and deterministic;
``--shift`` (0 = none, 1 = strong) moves usage up (more data, fewer calls), for drift drills.

    python generate.py --rows 3214 --seed 42 --out data/raw/users_behavior.csv
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from runner.ml import generator_cli


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def generate(rows: int = 3_214, seed: int = 42, shift: float = 0.0) -> pd.DataFrame:
    """The data set as a frame, columns in the public file's order."""
    rng = np.random.default_rng(seed)
    n = rows

    # A latent appetite for usage drives all four columns (they correlate in real data).
    appetite = rng.normal(0, 1, n)
    talk = np.exp(0.3 * appetite + rng.normal(0, 0.25, n))
    calls = np.round(rng.gamma(6.0, 10.0 * talk * (1 - 0.25 * shift)))
    # Call length varies per person; minutes follow calls closely, like the public data.
    minutes = np.round(calls * rng.lognormal(np.log(6.9), 0.22, n), 2)
    texter = rng.random(n) < 0.8
    messages = np.where(
        texter, np.round(rng.gamma(1.3, 38 * np.exp(0.35 * appetite), n)), 0.0
    )
    mb_used = np.round(
        rng.gamma(6.0, 2_850 * np.exp(0.25 * appetite + 0.3 * shift)), 2
    )

    # A handful of idle months: no calls, no minutes.
    idle = rng.random(n) < 0.012
    calls[idle] = 0.0
    minutes[idle] = 0.0

    # Heavy data users and long talkers pick Ultra; past the Smart plan's quota
    # (15 GB, 500 minutes, 50 texts) the step is sharper.
    over_data = mb_used > 15_360
    over_talk = minutes > 500
    logit = (
        -3.15
        + 2.1 * over_data
        + 1.6 * over_talk
        + 1.1 * (messages > 50)
        + 0.9 * (over_data & over_talk)
        + 0.35 * (mb_used - 17_000) / 7_500
        - 1.2 * ((mb_used > 15_360) & (mb_used < 19_000) & ~over_talk)
        + rng.normal(0, 0.3, n)
    )
    is_ultra = (rng.random(n) < _sigmoid(logit)).astype(int)

    return pd.DataFrame({
        "calls": calls.astype(float),
        "minutes": minutes.astype(float),
        "messages": messages.astype(float),
        "mb_used": mb_used.astype(float),
        "is_ultra": is_ultra,
    })


def main(argv: list[str] | None = None) -> None:
    generator_cli.run(generate, rows=3_214, out="data/raw/users_behavior.csv",
                      description=__doc__.splitlines()[0], argv=argv)


if __name__ == "__main__":
    main()
