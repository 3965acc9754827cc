"""The drift decision with numpy/scipy, reproducing Evidently 0.7's default tests.

Evidently's ``DataDriftPreset`` takes 73 s on 1M rows (plus 8 s to import); the decision
itself only needs one test per column. This module applies the same tests with the same
thresholds, chosen the same way (``evidently/legacy/calculations/stattests/registry.py``
``_get_default_stattest`` and ``evidently/core/datasets.py`` ``infer_column_type``):

- column type: float -> numerical; int with at most 10 distinct values -> categorical,
  else numerical; strings -> categorical (text when more than half the values are
  distinct: skipped here, as our schemas' text columns are free-form names);
- reference of at most 1000 rows: numerical with more than 5 distinct values (reference
  and current together) -> Kolmogorov-Smirnov (p <= 0.05 drifts); otherwise chi-square
  (more than 2 values) or a two-proportion Z test (p < 0.05 drifts);
- larger reference: numerical with more than 5 distinct values -> Wasserstein distance
  normed by the reference's standard deviation (>= 0.1 drifts); otherwise Jensen-Shannon
  distance of the value shares (>= 0.1 drifts).

Missing and infinite values are dropped first, as Evidently does. The share of drifted
columns is compared with the spec's threshold by the caller. ``tests/unit/
test_lifecycle_drift.py`` checks that every column's verdict equals Evidently's.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

INTEGER_CARDINALITY_LIMIT = 10  # evidently.core.datasets
SMALL_REFERENCE_ROWS = 1000
FEW_VALUES = 5

KS, CHI2, Z, WASSERSTEIN, JS = ("K-S p_value", "chi-square p_value", "Z-test p_value",
                                "Wasserstein distance (normed)", "Jensen-Shannon distance")
THRESHOLDS = {KS: 0.05, CHI2: 0.05, Z: 0.05, WASSERSTEIN: 0.1, JS: 0.1}
P_VALUE_METHODS = frozenset({KS, CHI2, Z})


@dataclass(frozen=True)
class ColumnDrift:
    column: str
    kind: str  # numerical | categorical
    method: str
    score: float
    threshold: float
    drifted: bool

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def column_type(series: pd.Series) -> str | None:
    """numerical, categorical, or None for columns Evidently's default would not test here."""
    name = series.dtype.name
    if name.startswith("float"):
        return "numerical"
    if name.startswith("int"):
        return "categorical" if series.nunique() <= INTEGER_CARDINALITY_LIMIT else "numerical"
    if name in ("object", "string", "str", "category", "bool"):
        present = series.dropna()
        if present.empty:
            return None
        if name in ("category", "bool"):
            return "categorical"
        return None if series.nunique() > present.shape[0] * 0.5 else "categorical"
    return None


def choose_method(kind: str, reference_rows: int, n_values: int) -> str:
    if reference_rows <= SMALL_REFERENCE_ROWS:
        if kind == "numerical" and n_values > FEW_VALUES:
            return KS
        return CHI2 if n_values > 2 else Z
    if kind == "numerical" and n_values > FEW_VALUES:
        return WASSERSTEIN
    return JS


def _shares(ref: pd.Series, cur: pd.Series) -> tuple[np.ndarray, np.ndarray, list[Any]]:
    """Counts of each value in reference and current, over the union of their values."""
    import numpy as np

    ref_counts = ref.value_counts()
    cur_counts = cur.value_counts()
    keys = list(dict.fromkeys([*cur_counts.index, *ref_counts.index]))
    r = np.array([float(ref_counts.get(k, 0)) for k in keys])
    c = np.array([float(cur_counts.get(k, 0)) for k in keys])
    return r, c, keys


def _numeric_js(ref: pd.Series, cur: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Evidently's binning for a numerical column: sturges bins on both samples together."""
    import numpy as np

    combined = np.concatenate([ref.to_numpy(dtype=float), cur.to_numpy(dtype=float)])
    bins = np.histogram_bin_edges(combined, bins="sturges")
    return (np.histogram(ref, bins)[0] / len(ref), np.histogram(cur, bins)[0] / len(cur))


def column_verdict(name: str, kind: str, ref: pd.Series, cur: pd.Series) -> ColumnDrift:
    """Evidently's default test for one column (NaN/inf already dropped)."""
    import numpy as np
    from scipy import stats
    from scipy.spatial import distance

    n_values = int(pd_concat_nunique(ref, cur))
    method = choose_method(kind, len(ref), n_values)
    threshold = THRESHOLDS[method]
    if method == KS:
        score = float(stats.ks_2samp(ref, cur)[1])
        drifted = score <= threshold
    elif method == WASSERSTEIN:
        norm = max(float(np.std(ref.to_numpy(dtype=float))), 0.001)
        score = float(stats.wasserstein_distance(ref, cur)) / norm
        drifted = score >= threshold
    elif method == JS:
        if kind == "numerical" and ref.nunique() > 20:
            rp, cp = _numeric_js(ref, cur)
        else:
            r, c, _ = _shares(ref, cur)
            rp, cp = r / len(ref), c / len(cur)
        score = float(distance.jensenshannon(rp, cp))
        drifted = score >= threshold
    elif method == CHI2:
        r, c, _ = _shares(ref, cur)
        score = float(stats.chisquare(c, r * (len(cur) / len(ref)))[1])
        drifted = score < threshold
    else:  # Z test on the share of the first (sorted) value
        score = _z_test(ref, cur)
        drifted = score < threshold
    return ColumnDrift(name, kind, method, score, threshold, bool(drifted))


def _z_test(ref: pd.Series, cur: pd.Series) -> float:
    import numpy as np
    from scipy.stats import norm

    keys = sorted(set(ref.unique()) | set(cur.unique()))
    if len(keys) == 1:
        return 1.0
    p1 = float((ref != keys[0]).mean())
    p2 = float((cur != keys[0]).mean())
    n1, n2 = len(ref), len(cur)
    pooled = (p1 * n1 + p2 * n2) / (n1 + n2)
    denom = np.sqrt(pooled * (1 - pooled) * (1.0 / n1 + 1.0 / n2))
    if denom == 0:
        return 1.0
    return float(2 * (1 - norm.cdf(abs((p1 - p2) / denom))))


def pd_concat_nunique(ref: pd.Series, cur: pd.Series) -> int:
    """Distinct values of both samples without building their concatenation."""
    import numpy as np

    if ref.dtype.kind in "fiub" and cur.dtype.kind in "fiub":
        return int(np.unique(np.concatenate([np.unique(ref.to_numpy()),
                                             np.unique(cur.to_numpy())])).size)
    return len(set(ref.unique()) | set(cur.unique()))


def clean(series: pd.Series) -> pd.Series:
    import numpy as np

    if series.dtype.kind == "f":
        series = series.replace([np.inf, -np.inf], np.nan)
    return series.dropna()


def drift_table(reference: pd.DataFrame, current: pd.DataFrame,
                columns: list[str]) -> list[ColumnDrift]:
    """One verdict per testable column (types from the reference, as Evidently infers)."""
    results = []
    for name in columns:
        kind = column_type(reference[name])
        if kind is None:
            continue
        ref, cur = clean(reference[name]), clean(current[name])
        if ref.empty or cur.empty:
            continue
        results.append(column_verdict(name, kind, ref, cur))
    return results
