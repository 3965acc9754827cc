"""Paired bootstrap of held-out predictions: each metric with a confidence interval, and
the candidate-minus-champion difference with its interval, measured on the same rows.

Why a bootstrap of the held-out predictions and not repeated K-fold: the gate decides
between two fitted artifacts (the registered champion cannot be refitted: it was trained
on older data), so the variance that matters is which rows happened to be held out, and
that is what resampling the held-out rows measures. Repeated K-fold would refit both
configurations 10-50 times (minutes on two loaded cores, against a bootstrap costing well
under a second) and answer another question: is one training *procedure* better.

Each resample draws rows with replacement, the same rows for both models (paired: the
rows that are hard for one are hard for the other, so the difference is much tighter than
either metric). Classification resamples are stratified: positives and negatives are
drawn separately, so every resample keeps the held-out class balance and ROC AUC is
always defined. Intervals are percentile intervals at the spec's ``gate.confidence``.

Everything is vectorised over resamples (a row-count matrix times per-row terms), with
ROC AUC as the exact Mann-Whitney statistic, ties counted half: the point values equal
``runner.ml.evaluate``'s on the full rows.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from runner.ml.evaluate import HIGHER_IS_BETTER, MAPE_FLOOR

if TYPE_CHECKING:
    import numpy as np

RESAMPLES = 2000  # percentile tails of a 95% interval from 50 resamples each
CHUNK = 250  # resamples per matrix: bounds memory at CHUNK x rows floats
METHOD = "paired stratified bootstrap of the held-out predictions"
METHOD_REGRESSION = "paired bootstrap of the held-out predictions"


@dataclass(frozen=True)
class Interval:
    """A point value (on all rows) and its percentile interval over the resamples."""

    value: float
    low: float
    high: float

    def text(self, signed: bool = False) -> str:
        f = "{:+.4f}" if signed else "{:.4f}"
        return f"{f.format(self.value)} [{f.format(self.low)}, {f.format(self.high)}]"


@dataclass(frozen=True)
class Comparison:
    """Candidate and (optional) champion on the same rows; ``difference`` is candidate
    minus champion in the metric's own unit (negative is worse for higher-is-better)."""

    candidate: dict[str, Interval]
    champion: dict[str, Interval] | None
    difference: dict[str, Interval]
    level: float
    rows: int
    resamples: int
    seed: int
    method: str

    @classmethod
    def exact(cls, candidate: dict[str, float], champion: dict[str, float] | None,
              level: float = 0.95) -> Comparison:
        """Zero-width intervals: the gate's rules on known values (tables, and tests)."""
        def pin(m: dict[str, float]) -> dict[str, Interval]:
            return {k: Interval(v, v, v) for k, v in m.items()}

        diff = {} if champion is None else {
            k: Interval(candidate[k] - champion[k], candidate[k] - champion[k],
                        candidate[k] - champion[k]) for k in candidate if k in champion}
        return cls(pin(candidate), None if champion is None else pin(champion), diff, level,
                   0, 0, 0, "exact values")

    def points(self, which: str = "candidate") -> dict[str, float] | None:
        found = self.candidate if which == "candidate" else self.champion
        return None if found is None else {k: v.value for k, v in found.items()}

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def counts(y: Any, resamples: int, seed: int, stratify: bool) -> Iterator[np.ndarray]:
    """Chunks of a (resamples x rows) matrix: how often each row is drawn per resample."""
    import numpy as np

    y = np.asarray(y)
    n = len(y)
    rng = np.random.default_rng(seed)
    groups = [np.flatnonzero(y == c) for c in np.unique(y)] if stratify else [np.arange(n)]
    done = 0
    while done < resamples:
        size = min(CHUNK, resamples - done)
        out = np.zeros((size, n))
        offsets = np.arange(size)[:, None] * n
        for idx in groups:
            # len(idx) draws with replacement per resample, counted per row in one bincount
            picks = idx[rng.integers(0, len(idx), size=(size, len(idx)))] + offsets
            out += np.bincount(picks.ravel(), minlength=size * n).reshape(size, n)
        done += size
        yield out


def _auc(y: np.ndarray, score: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Weighted Mann-Whitney AUC per row of ``w`` (ties count half), exact."""
    import numpy as np

    order = np.argsort(score, kind="mergesort")
    s, pos = score[order], y[order].astype(bool)
    starts = np.flatnonzero(np.r_[True, s[1:] != s[:-1]])  # groups of tied scores
    ws = w[:, order]
    p = ws * pos
    q = ws - p
    if len(starts) < len(s):  # sum the tied rows' weights per group
        p = np.add.reduceat(p, starts, axis=1)
        q = np.add.reduceat(q, starts, axis=1)
    below = np.cumsum(q, axis=1) - q  # negative weight strictly below each group
    total = p.sum(axis=1) * q.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.asarray((p * (below + 0.5 * q)).sum(axis=1) / total)


def classification(y: Any, proba: Any, w: np.ndarray,
                   threshold: float = 0.5) -> dict[str, np.ndarray]:
    """runner.ml.evaluate.classification_metrics for each row of weights ``w``."""
    import numpy as np

    y = np.asarray(y).astype(int)
    proba = np.asarray(proba, dtype=float)
    pred = proba >= threshold
    # One float matrix product for all counts (a bool vector would take a slow path).
    cells = np.stack([pred & (y == 1), pred & (y == 0), ~pred & (y == 1), pred == (y == 1),
                      np.ones(len(y), dtype=bool)], axis=1).astype(float)
    tp, fp, fn, right, total = (w @ cells).T
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(tp + fp > 0, tp / (tp + fp), 0.0)
        recall = np.where(tp + fn > 0, tp / (tp + fn), 0.0)
        f1 = np.where(2 * tp + fp + fn > 0, 2 * tp / (2 * tp + fp + fn), 0.0)
    return {"roc_auc": _auc(y, proba, w), "f1": f1, "precision": precision,
            "recall": recall, "accuracy": right / total}


def regression(y: Any, pred: Any, w: np.ndarray) -> dict[str, np.ndarray]:
    """runner.ml.evaluate.regression_metrics for each row of weights ``w``."""
    import numpy as np

    y = np.asarray(y, dtype=float)
    p = np.asarray(pred, dtype=float)
    total = w.sum(axis=1)
    sse = w @ (p - y) ** 2
    mean = (w @ y) / total
    sst = w @ y ** 2 - total * mean ** 2
    real = y >= MAPE_FLOOR
    ape = np.where(real, np.abs(p - y) / np.where(real, y, 1.0), 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mape = (w @ ape) / (w @ real.astype(float))
        return {"rmse": np.sqrt(sse / total), "mae": (w @ np.abs(p - y)) / total,
                "r2": 1 - sse / sst, "mape": mape}


def _metrics(task: str, y: Any, pred: Any, w: np.ndarray) -> dict[str, np.ndarray]:
    return classification(y, pred, w) if task == "classification" else regression(y, pred, w)


def _interval(point: float, draws: np.ndarray, level: float) -> Interval:
    import numpy as np

    finite = draws[np.isfinite(draws)]
    if not len(finite):
        return Interval(point, float("nan"), float("nan"))
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(finite, [tail, 100 - tail])
    return Interval(float(point), float(low), float(high))


def compare(task: str, y: Any, candidate: Any, champion: Any | None, *, level: float = 0.95,
            resamples: int = RESAMPLES, seed: int = 0) -> Comparison:
    """Bootstrap both models' predictions on the same resampled rows.

    ``candidate``/``champion`` are the positive-class probabilities (classification) or
    predictions (regression) for the rows whose truth is ``y``; ``champion`` None gives
    the candidate's intervals alone.
    """
    import numpy as np

    y = np.asarray(y)
    ones = np.ones((1, len(y)))
    preds = {"candidate": candidate} if champion is None else {
        "candidate": candidate, "champion": champion}
    point = {k: {m: float(v[0]) for m, v in _metrics(task, y, p, ones).items()}
             for k, p in preds.items()}
    draws: dict[str, dict[str, list[np.ndarray]]] = {k: {} for k in preds}
    for w in counts(y, resamples, seed, stratify=task == "classification"):
        for k, p in preds.items():
            for m, v in _metrics(task, y, p, w).items():
                draws[k].setdefault(m, []).append(v)
    stacked = {k: {m: np.concatenate(v) for m, v in d.items()} for k, d in draws.items()}
    per = {k: {m: _interval(point[k][m], stacked[k][m], level) for m in point[k]}
           for k in preds}
    diff: dict[str, Interval] = {}
    if champion is not None:
        for m in point["candidate"]:
            delta = stacked["candidate"][m] - stacked["champion"][m]
            diff[m] = _interval(point["candidate"][m] - point["champion"][m], delta, level)
    method = METHOD if task == "classification" else METHOD_REGRESSION
    return Comparison(per["candidate"], per.get("champion"), diff, level, len(y), resamples,
                      seed, method)


def improvement(metric: str, diff: Interval, greater_is_better: bool | None = None) -> Interval:
    """The difference turned so that positive is better (flipped for error metrics)."""
    higher = metric in HIGHER_IS_BETTER if greater_is_better is None else greater_is_better
    if higher:
        return diff
    return Interval(-diff.value, -diff.high, -diff.low)
