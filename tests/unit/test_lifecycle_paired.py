"""The paired bootstrap behind the gate: the same metrics as runner.ml.evaluate, stratified
resamples, reproducible intervals that cover the truth about as often as they claim."""

from __future__ import annotations

import numpy as np
import pytest

from runner.lifecycle.paired import classification, compare, counts, improvement, regression
from runner.ml.evaluate import classification_metrics, regression_metrics


def _scores(n: int, seed: int, shift: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Labels (25% positive) and scores whose true ROC AUC is Phi(shift / sqrt 2)."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.25).astype(int)
    score = rng.normal(size=n) + shift * y
    return y, 1 / (1 + np.exp(-score))


def test_point_values_equal_sklearn_classification() -> None:
    y, p = _scores(700, 1)
    p = np.round(p, 2)  # ties: Mann-Whitney counts them half, like roc_auc_score
    ours = {k: float(v[0]) for k, v in classification(y, p, np.ones((1, len(y)))).items()}
    assert ours == pytest.approx(classification_metrics(y, p), abs=1e-12)


def test_point_values_equal_sklearn_regression() -> None:
    rng = np.random.default_rng(2)
    y = rng.lognormal(9, 1, 500)
    y[:20] = 1.0  # placeholder prices: MAPE skips them
    pred = y * rng.lognormal(0, 0.3, 500)
    ours = {k: float(v[0]) for k, v in regression(y, pred, np.ones((1, len(y)))).items()}
    assert ours == pytest.approx(regression_metrics(y, pred), rel=1e-9)


def test_weights_are_resampled_rows() -> None:
    """A row drawn k times counts k times: weights equal repeating rows."""
    y, p = _scores(300, 3)
    w = next(counts(y, 1, seed=5, stratify=True))[0]
    rows = np.repeat(np.arange(len(y)), w.astype(int))
    ours = {k: float(v[0]) for k, v in classification(y, p, w[None, :]).items()}
    assert ours == pytest.approx(classification_metrics(y[rows], p[rows]), abs=1e-12)


def test_stratified_resamples_keep_the_class_counts() -> None:
    y, _ = _scores(500, 4)
    for chunk in counts(y, 600, seed=0, stratify=True):
        assert (chunk[:, y == 1].sum(axis=1) == y.sum()).all()
        assert (chunk.sum(axis=1) == len(y)).all()
    plain = np.concatenate(list(counts(y, 600, seed=0, stratify=False)))
    assert len(set(plain[:, y == 1].sum(axis=1))) > 1


def test_seeded_and_paired() -> None:
    y, p = _scores(800, 5)
    _, q = _scores(800, 6)
    a = compare("classification", y, p, q, seed=7, resamples=500)
    assert a == compare("classification", y, p, q, seed=7, resamples=500)
    assert a != compare("classification", y, p, q, seed=8, resamples=500)
    same = compare("classification", y, p, p, seed=7, resamples=500)
    assert same.difference["roc_auc"] == improvement("roc_auc", same.difference["roc_auc"])
    assert (same.difference["roc_auc"].low, same.difference["roc_auc"].high) == (0.0, 0.0)
    # Pairing: a small change to one model gives a much tighter difference than either.
    near = np.clip(p + np.random.default_rng(9).normal(0, 0.02, len(p)), 0, 1)
    c = compare("classification", y, near, p, seed=7, resamples=500)
    d, m = c.difference["roc_auc"], c.candidate["roc_auc"]
    assert d.high - d.low < (m.high - m.low) / 4


def test_lower_is_better_turns_the_difference() -> None:
    rng = np.random.default_rng(10)
    y = rng.lognormal(9, 1, 400)
    good, bad = y * rng.lognormal(0, 0.1, 400), y * rng.lognormal(0, 0.4, 400)
    c = compare("regression", y, good, bad, seed=1, resamples=400)
    assert c.difference["rmse"].high < 0  # the candidate's error is lower
    assert improvement("rmse", c.difference["rmse"]).low > 0
    assert c.method == "paired bootstrap of the held-out predictions"


def test_interval_covers_the_true_auc() -> None:
    """95% intervals from 400-row samples contain the population AUC in about 95% of 80
    independent samples (binomial: 70 or more, unless the method is off)."""
    from scipy.stats import norm

    truth = float(norm.cdf(1 / np.sqrt(2)))
    hits = 0
    for seed in range(80):
        y, p = _scores(400, 100 + seed)
        auc = compare("classification", y, p, None, seed=seed, resamples=400).candidate
        hits += auc["roc_auc"].low <= truth <= auc["roc_auc"].high
    assert 70 <= hits <= 80, hits
