"""A fitted HistGradientBoosting ensemble as one generated Python function of a record.

scikit-learn predicts one row with a frame, its own validation, an internal ordinal
re-encoding and one Cython call per tree: about a millisecond for 150-200 trees. The same
trees written out as nested ``if`` statements over local floats take tens of microseconds.

Exactness is the point, so this mirrors ``_predictor.pyx::_predict_one_from_raw_data``
and ``BaseHistGradientBoosting._raw_predict`` step by step:

* raw feature values (not bins) against ``num_threshold`` with ``<=``; NaN goes to the
  side ``missing_go_to_left`` names;
* categorical splits: the value is the internal encoder's index (an integer-valued float
  or NaN); in the left bitset -> left, else a known category -> right, else (NaN,
  negative, unknown) the missing-values side;
* the sum starts at 0.0, adds the baseline, then each tree's leaf value in iteration
  order, in float64 (Python floats are IEEE doubles: the same additions).

It reads private attributes (``_predictors``, ``_baseline_prediction``, ``_bin_mapper``,
``_preprocessor``); runner.serving.fastcheck only uses it on the scikit-learn versions
it was tested with.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from runner.errors import ToolkitError

# Python refuses more than 100 levels of indentation; real trees are far shallower.
MAX_DEPTH = 80
BITS = 32  # sklearn's bitsets are rows of 8 uint32 words: 256 categories


class Unsupported(ToolkitError):
    """The pipeline, or one record, is outside what the fast path replicates exactly."""


def literal(value: float) -> str:
    """A float as source text that reads back to the same double."""
    if math.isnan(value):
        raise Unsupported("a NaN constant in a tree")
    if math.isinf(value):
        return "INF" if value > 0 else "-INF"
    return repr(float(value))


def bitset_members(row: Any) -> frozenset[int]:
    """The categories (0-255) set in one bitset row of 8 uint32 words."""
    found = set()
    for word_idx, word in enumerate(row):
        word = int(word)
        for bit in range(BITS):
            if word >> bit & 1:
                found.add(word_idx * BITS + bit)
    return frozenset(found)


def tree_lines(
    predictor: Any,
    known: dict[int, frozenset[int]],
    indent: int,
) -> list[str]:
    """Statements that add one tree's leaf value to ``r`` for the record in ``x0..xN``."""
    nodes = predictor.nodes
    left_bitsets = predictor.raw_left_cat_bitsets
    lines: list[str] = []

    def emit(idx: int, depth: int) -> None:
        pad = "    " * (indent + depth)
        if depth > MAX_DEPTH:
            raise Unsupported(f"a tree deeper than {MAX_DEPTH}")
        node = nodes[idx]
        if node["is_leaf"]:
            lines.append(f"{pad}r += {literal(float(node['value']))}")
            return
        feature = int(node["feature_idx"])
        var = f"x{feature}"
        missing_left = bool(node["missing_go_to_left"])
        if node["is_categorical"]:
            left = sorted(bitset_members(left_bitsets[int(node["bitset_idx"])]))
            left_test = f"{var} in {set(left)!r}" if left else "False"
            if missing_left:
                known_set = sorted(known[feature])
                known_test = f"{var} not in {set(known_set)!r}" if known_set else "True"
                test = f"{left_test} or {known_test}"
            else:
                test = left_test
        else:
            threshold = literal(float(node["num_threshold"]))
            test = f"{var} <= {threshold}"
            if missing_left:
                test += f" or {var} != {var}"
        lines.append(f"{pad}if {test}:")
        emit(int(node["left"]), depth + 1)
        lines.append(f"{pad}else:")
        emit(int(node["right"]), depth + 1)

    emit(0, 0)
    return lines


def compile_ensemble(estimator: Any, n_features: int) -> Callable[[list[float]], float]:
    """The raw prediction (baseline + every tree) of a fitted single-output HGB model.

    The argument is the estimator's input vector *after* its internal categorical
    re-encoding (see :func:`internal_encoding`).
    """
    if getattr(estimator, "n_trees_per_iteration_", None) != 1:
        raise Unsupported("only binary classifiers and regressors (one tree per iteration)")
    baseline = estimator._baseline_prediction
    if baseline.shape != (1, 1) or str(baseline.dtype) != "float64":
        raise Unsupported(f"unexpected baseline shape {baseline.shape} {baseline.dtype}")
    known: dict[int, frozenset[int]] = {}
    if estimator.is_categorical_ is not None:
        known_bitsets, f_idx_map = estimator._bin_mapper.make_known_categories_bitsets()
        for feature in range(n_features):
            known[feature] = bitset_members(known_bitsets[int(f_idx_map[feature])])
    names = [f"x{i}" for i in range(n_features)]
    body = [
        "def raw(x):",
        f"    {', '.join(names)}{',' if n_features == 1 else ''} = x",
        "    r = 0.0",
        f"    r += {literal(float(baseline[0, 0]))}",
    ]
    for iteration in estimator._predictors:
        (predictor,) = iteration
        body.extend(tree_lines(predictor, known, indent=1))
    body.append("    return r")
    namespace: dict[str, Any] = {"INF": math.inf}
    # The source is generated here from the fitted trees' numbers (no request data, no
    # spec string), and the result must equal the pipeline bit for bit before it serves.
    exec(compile("\n".join(body), "<mlgitops-fastpath-trees>", "exec"), namespace)  # noqa: S102  # nosec B102
    func: Callable[[list[float]], float] = namespace["raw"]
    return func


def internal_encoding(estimator: Any, n_features: int) -> Callable[[list[float]], list[float]]:
    """HGB's own re-encoding of categorical columns (fitted ``_preprocessor``) per record.

    Categorical columns become the index of their value among the categories seen in
    training (NaN when unknown or missing) and move to the front, in column order.
    """
    is_cat = estimator.is_categorical_
    if is_cat is None:
        if estimator._preprocessor is not None:
            raise Unsupported("an internal preprocessor without categorical features")
        return lambda x: x
    cat_idx = [i for i in range(n_features) if is_cat[i]]
    num_idx = [i for i in range(n_features) if not is_cat[i]]
    pre = estimator._preprocessor
    encoder = pre.named_transformers_["encoder"]
    order = [name for name, _, _ in pre.transformers_ if name != "remainder"]
    if order != ["encoder", "numerical"]:
        raise Unsupported(f"unexpected internal preprocessor layout {order}")
    tables = internal_tables(encoder)
    nan = math.nan

    def encode(x: list[float]) -> list[float]:
        out = [tables[j].get(x[i], nan) for j, i in enumerate(cat_idx)]
        out.extend(x[i] for i in num_idx)
        return out

    return encode


def internal_tables(encoder: Any) -> list[dict[float, float]]:
    """Value -> index per categorical column, read off the fitted encoder's own transform."""
    import numpy as np

    if encoder.handle_unknown != "use_encoded_value" or not math.isnan(encoder.unknown_value):
        raise Unsupported("the internal encoder does not map unknown values to NaN")
    columns = [np.asarray(c, dtype=np.float64) for c in encoder.categories_]
    columns = [c[~np.isnan(c)] for c in columns]
    depth = max((len(c) for c in columns), default=0)
    if depth == 0:
        return [{} for _ in columns]
    grid = np.empty((depth + 1, len(columns)), dtype=np.float64)
    for j, cats in enumerate(columns):
        grid[:depth, j] = np.resize(cats, depth) if len(cats) else np.nan
        grid[depth, j] = np.nan  # missing must encode as NaN too
    out = encoder.transform(grid)
    tables = []
    for j, cats in enumerate(columns):
        if not math.isnan(float(out[depth, j])):
            raise Unsupported("the internal encoder does not map missing values to NaN")
        table: dict[float, float] = {}
        for i in range(len(cats)):
            code = float(out[i, j])
            if not (code.is_integer() and 0 <= code < 8 * BITS):
                raise Unsupported(f"internal category code {code} is not a bitset index")
            table[float(cats[i])] = code
        tables.append(table)
    return tables
