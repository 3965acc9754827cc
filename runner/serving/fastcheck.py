"""Whether a replica may serve small requests through the fast path, decided at load.

The fast path (fastpath.py, fasttrees.py) reads private scikit-learn attributes, so it is
used only when all of these hold, and the reason is logged and shown in /model_info
otherwise:

* the installed scikit-learn is one the fast path was tested with (``TESTED_SKLEARN``);
* ops did not switch it off (``MLGITOPS_FASTPATH=0``);
* the fitted pipeline compiles (every step has a per-record twin);
* on the reference rows (the project's sample rows plus rows generated from them with
  missing values, unknown categories and out-of-range numbers) the fast path's output is
  bitwise the pipeline's, one record at a time and in small groups.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from runner.serving.definition import ServiceDefinition
from runner.serving.fastpath import FastModel, compile_pipeline
from runner.serving.fasttrees import Unsupported

log = logging.getLogger("mlgitops.serving")

# Versions whose private estimator attributes the fast path was checked against.
TESTED_SKLEARN = frozenset({"1.9.1"})
# Requests with at most this many records take the fast path; larger batches the
# pipeline (vectorised, so cheaper per row from a few hundred rows on).
FAST_MAX_ROWS = 32
REFERENCE_ROWS = 300
GROUP = 7  # the self-test also predicts groups of this many records at once


@dataclass(frozen=True)
class Decision:
    """The outcome: ``fast`` is set only when it may serve."""

    fast: FastModel | None
    reason: str

    def describe(self) -> dict[str, Any]:
        return {"serving_path": "fast" if self.fast else "pipeline", "fast_path": self.reason}


def decide(
    model: Any, definition: ServiceDefinition, samples: Sequence[dict[str, Any]],
    *, enabled: bool = True,
) -> Decision:
    """Build and self-test the fast path for ``model``; never raises."""
    import sklearn

    if not enabled:
        return Decision(None, "switched off (MLGITOPS_FASTPATH=0): pipeline serves")
    if sklearn.__version__ not in TESTED_SKLEARN:
        tested = ", ".join(sorted(TESTED_SKLEARN))
        return Decision(
            None, f"scikit-learn {sklearn.__version__} is not a tested version ({tested})"
        )
    task = definition.task
    try:
        fast = compile_pipeline(model, task)
    except Unsupported as exc:
        return Decision(None, f"pipeline not compiled: {exc.message}")
    except Exception as exc:  # an attribute layout we did not expect: say so, serve the pipeline
        return Decision(None, f"pipeline not compiled: {type(exc).__name__}: {exc}")
    rows = reference_rows(samples, definition, REFERENCE_ROWS)
    try:
        mismatch = compare(fast, model, definition, rows)
    except Exception as exc:
        return Decision(None, f"self-test failed: {type(exc).__name__}: {exc}")
    if mismatch:
        return Decision(None, f"self-test: {mismatch}")
    return Decision(fast, f"fast path: {fast.trees} trees, identical on {len(rows)} reference rows")


def pipeline_output(model: Any, task: str, table: Any) -> Any:
    """What LoadedModel.predict asks the pipeline for."""
    return model.predict_proba(table) if task == "classification" else model.predict(table)


def fast_output(fast: FastModel, rows: Sequence[dict[str, Any]]) -> Any | None:
    """The fast path's output, or None when a record is outside what it replicates (or,
    defensively, when the twin trips over a value: the pipeline is the reference)."""
    try:
        return fast(rows)
    except (Unsupported, ArithmeticError, TypeError, ValueError, KeyError, AttributeError):
        return None


def compare(
    fast: FastModel, model: Any, definition: ServiceDefinition, rows: Sequence[dict[str, Any]]
) -> str:
    """'' when the fast path equals the pipeline bitwise on ``rows``, else what differs.

    The pipeline predicts all rows in one batch (as /predict_batch does); the fast path
    one at a time and in groups (as /predict and small batches do). Rows the fast path
    declines are served by the pipeline, so they are not differences.
    """
    import numpy as np

    expected = pipeline_output(model, definition.task, definition.frame(rows))
    served = 0
    for i, row in enumerate(rows):
        got = fast_output(fast, [row])
        if got is None:
            continue
        served += 1
        if got.dtype != expected.dtype or got[0].tobytes() != expected[i].tobytes():
            return f"row {i} differs: fast {got[0].tolist()} pipeline {expected[i].tolist()}"
    for start in range(0, len(rows), GROUP):
        got = fast_output(fast, rows[start:start + GROUP])
        if got is not None and got.tobytes() != np.ascontiguousarray(
            expected[start:start + GROUP]
        ).tobytes():
            return f"rows {start}-{start + GROUP - 1} differ when predicted together"
    if served < len(rows) // 2:
        return f"only {served} of {len(rows)} reference rows take the fast path"
    return ""


def reference_rows(
    samples: Sequence[dict[str, Any]], definition: ServiceDefinition, count: int, seed: int = 0
) -> list[dict[str, Any]]:
    """The samples, then ``count`` variants: values missing, unknown categories, numbers
    scaled far in and out of range (the same seed gives the same rows)."""
    rng = random.Random(seed)  # noqa: S311 (test data, not secrets)
    features, categorical = definition.features, definition.categorical
    base = [{name: s.get(name) for name in features} for s in samples if s]
    rows = [dict(b) for b in base]
    if not base:
        return rows
    for _ in range(count):
        row = dict(rng.choice(base))
        for name in features:
            row[name] = mutate(rng, row[name], name in categorical, rng.choice(base)[name])
        rows.append(row)
    return rows


def mutate(rng: random.Random, value: Any, is_categorical: bool, other: Any) -> Any:
    """One field of a reference row: kept, taken from another sample, missing or changed."""
    roll = rng.random()
    if roll < 0.35:
        return value
    if roll < 0.55:
        return other
    if roll < 0.7:
        return None
    if is_categorical or isinstance(value, str):
        text = value if isinstance(value, str) else "x"
        return rng.choice([f"{text}-unseen", f"unseen {text}", text.upper(), " " + text, "zzz"])
    if value is None:
        return other
    factor = rng.choice([0.0, 0.01, 0.5, 0.9, 1.1, 2.0, 10.0, rng.uniform(0, 3)])
    scaled = value * factor
    return int(round(scaled)) if isinstance(value, int) else float(scaled)
