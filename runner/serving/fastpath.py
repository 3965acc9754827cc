"""A per-record twin of a fitted pipeline: plain Python from the fitted parameters.

``compile_pipeline`` walks the fitted scikit-learn Pipeline generically (FunctionTransformer
steps, one ColumnTransformer of imputers / ordinal encoders / scalers, then a
HistGradientBoosting model, maybe inside a TransformedTargetRegressor) and returns a
:class:`FastModel` whose output for a few records is bitwise the pipeline's
``predict_proba`` / ``predict``. Anything it does not know raises ``Unsupported`` at
compile time (the pipeline then serves); a record outside what a step replicates raises
``Unsupported`` at call time (that request is served by the pipeline).

Why each step is exact: imputation and the encoders' lookups are table look-ups read off
the fitted objects (the encoders' tables are made by their own ``transform``); scaling is
the same two IEEE operations sklearn applies in place; the trees are in fasttrees.py; the
final link (expit, identity, expm1) is the fitted object's own numpy function on an array.
Private attributes are read here and in fasttrees.py: fastcheck.py pins the versions.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from runner.serving.fasttrees import Unsupported, compile_ensemble, internal_encoding

Record = dict[str, Any]
NAN = math.nan
UNKNOWN = "\x00mlgitops-unknown-category\x00"  # a value no encoder was fitted on
ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
# pandas Timestamps span 1677-09-21 .. 2262-04-11; outside that to_datetime gives NaT.
DATE_YEARS = (1678, 2261)


# ----------------------------------------------------------------- record steps


def clean_record(
    rec: Record, numeric: Sequence[str] = (), categorical: Sequence[str] = ()
) -> Record:
    """Per-record ``clean_input``: numerics to float (None -> NaN), categories to str."""
    out = dict(rec)
    for name in numeric:
        if name in out:
            v = out[name]
            if v is None:
                out[name] = NAN
            elif type(v) in (int, float):
                out[name] = float(v)
            else:
                raise Unsupported(f"{name}: {type(v).__name__} in a numeric column")
    for name in categorical:
        if name in out:
            v = out[name]
            if v is None or (isinstance(v, float) and v != v):
                out[name] = NAN
            elif isinstance(v, float):
                raise Unsupported(f"{name}: a float in a categorical column")
            else:
                out[name] = str(v)
    return out


def car_record(rec: Record) -> Record:
    """Per-record ``car_features`` (carvision): brand, posting year/month, age, miles/year."""
    out = dict(rec)
    model = out["model"]
    if isinstance(model, float) and model != model:
        model = None
    out["brand"] = str(model).strip().lower().split(" ")[0] if model and str(model).strip() else NAN
    posted = out.pop("date_posted")
    if posted is None or (isinstance(posted, float) and posted != posted):
        year_posted = month_posted = NAN
    elif isinstance(posted, str) and ISO_DATE.fullmatch(posted):
        try:
            day = dt.date.fromisoformat(posted)
        except ValueError:
            raise Unsupported("date_posted: not a calendar date") from None
        if not DATE_YEARS[0] <= day.year <= DATE_YEARS[1]:
            raise Unsupported("date_posted: outside pandas' timestamp range")
        year_posted, month_posted = float(day.year), float(day.month)
    else:
        raise Unsupported("date_posted: not an ISO date string")  # pandas' "mixed" parser
    out["posted_year"], out["posted_month"] = year_posted, month_posted
    year, odometer = _number(out["model_year"]), _number(out["odometer"])
    age = year_posted - year
    if age < 0:  # Series.clip(lower=0); NaN stays NaN
        age = 0.0
    out["vehicle_age"] = age
    out["miles_per_year"] = odometer / (age + 1.0)
    return out


def _number(v: Any) -> float:
    if v is None:
        return NAN
    if type(v) in (int, float):
        return float(v)
    raise Unsupported("a non-numeric value where a number is expected")


# The pipelines' FunctionTransformer steps, by function name (the functions may move
# between modules; fastcheck's comparison catches a same-named function that changed).
RECORD_STEPS: dict[str, Callable[..., Record]] = {
    "clean_input": clean_record,
    "car_features": car_record,
}


# ----------------------------------------------------------------- column blocks

Block = Callable[[list[Any]], list[Any]]


def imputer_block(imp: Any) -> Block:
    """SimpleImputer (missing_values NaN): fill, drop all-empty columns, add indicators."""
    import numpy as np

    missing = imp.missing_values
    if not (isinstance(missing, float) and math.isnan(missing)):
        raise Unsupported(f"SimpleImputer(missing_values={missing!r})")
    stats = list(imp.statistics_)
    numeric = imp.statistics_.dtype.kind == "f"
    if imp.keep_empty_features:
        keep = list(range(len(stats)))
    else:
        keep = [j for j, s in enumerate(stats) if not (isinstance(s, float) and math.isnan(s))]
    fill = [float(s) if numeric else s for s in stats]
    indicator = [int(j) for j in imp.indicator_.features_] if imp.add_indicator else []
    if indicator and not numeric:
        raise Unsupported("missing-value indicators on a categorical imputer")
    if not numeric and imp.statistics_.dtype != np.dtype(object):
        raise Unsupported(f"imputer statistics of dtype {imp.statistics_.dtype}")

    def run(values: list[Any]) -> list[Any]:
        is_missing = []
        for v in values:
            if v is None:  # sklearn's NaN mask does not see None: not replicated
                raise Unsupported("None reached an imputer")
            is_missing.append(isinstance(v, float) and v != v)
        out = [fill[j] if is_missing[j] else values[j] for j in keep]
        out.extend(1.0 if is_missing[j] else 0.0 for j in indicator)
        return out

    return run


def ordinal_block(enc: Any) -> Block:
    """OrdinalEncoder on strings: a value -> code table made by the encoder's own transform."""
    import numpy as np

    if enc.handle_unknown == "error":
        raise Unsupported("OrdinalEncoder(handle_unknown='error')")
    cats = [list(c) for c in enc.categories_]
    if not all(isinstance(v, str) for c in cats for v in c):
        raise Unsupported("OrdinalEncoder with non-string categories")
    depth = max(len(c) for c in cats)
    grid = np.empty((depth + 1, len(cats)), dtype=object)
    for j, col in enumerate(cats):
        for i in range(depth):
            grid[i, j] = col[i % len(col)]
        grid[depth, j] = UNKNOWN
    out = enc.transform(grid)
    tables = [{col[i]: float(out[i, j]) for i in range(len(col))} for j, col in enumerate(cats)]
    unknown = [float(out[depth, j]) for j in range(len(cats))]

    def run(values: list[Any]) -> list[Any]:
        codes = []
        for j, v in enumerate(values):
            if type(v) is not str:
                raise Unsupported("a non-string value reached an encoder")
            codes.append(tables[j].get(v, unknown[j]))
        return codes

    return run


def scaler_block(scaler: Any) -> Block:
    """StandardScaler: ``x -= mean_`` then ``x /= scale_``, the same float64 operations."""
    mean = [float(m) for m in scaler.mean_] if scaler.with_mean else None
    scale = [float(s) for s in scaler.scale_] if scaler.with_std else None
    inf = math.inf

    def run(values: list[Any]) -> list[Any]:
        out = []
        for j, v in enumerate(values):
            if v == inf or v == -inf:  # sklearn's input check refuses infinities
                raise Unsupported("an infinite value reached a scaler")
            if mean is not None:
                v = v - mean[j]
            if scale is not None:
                v = v / scale[j]
            out.append(v)
        return out

    return run


def chain(steps: list[Any]) -> Block:
    """One ColumnTransformer entry (a transformer or a Pipeline of them) as a block."""
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OrdinalEncoder, StandardScaler

    blocks: list[Block] = []
    for step in steps:
        if isinstance(step, Pipeline):
            blocks.append(chain([s for _, s in step.steps]))
        elif type(step) is SimpleImputer:
            blocks.append(imputer_block(step))
        elif type(step) is OrdinalEncoder:
            blocks.append(ordinal_block(step))
        elif type(step) is StandardScaler:
            blocks.append(scaler_block(step))
        else:
            raise Unsupported(f"no per-record twin of {type(step).__name__}")

    def run(values: list[Any]) -> list[Any]:
        for block in blocks:
            values = block(values)
        return values

    return run


def column_vector(ct: Any) -> Callable[[Record], list[float]]:
    """A fitted ColumnTransformer as record -> feature vector (its hstack order)."""
    parts: list[tuple[list[str], Block]] = []
    for name, trans, columns in ct.transformers_:
        if isinstance(trans, str):
            if trans == "drop" or len(columns) == 0:
                continue
            raise Unsupported(f"ColumnTransformer entry {name!r}: {trans}")
        if len(columns) == 0:
            continue
        if not all(isinstance(c, str) for c in columns):
            raise Unsupported(f"ColumnTransformer entry {name!r} selects columns by position")
        parts.append((list(columns), chain([trans])))

    def run(rec: Record) -> list[float]:
        vector: list[float] = []
        for columns, block in parts:
            try:
                values = [rec[c] for c in columns]
            except KeyError as exc:
                raise Unsupported(f"column {exc} missing") from None
            vector.extend(block(values))
        return vector

    return run


# ----------------------------------------------------------------- the model


@dataclass(frozen=True)
class FastModel:
    """``predict_proba`` (classifiers) or ``predict`` (regressors) for a few records."""

    front: tuple[Callable[[Record], Record], ...]
    vector: Callable[[Record], list[float]]
    encode: Callable[[list[float]], list[float]]
    raw: Callable[[list[float]], float]
    finish: Callable[[list[float]], Any]
    trees: int

    def __call__(self, rows: Sequence[Record]) -> Any:
        raws = []
        for rec in rows:
            for step in self.front:
                rec = step(rec)
            raws.append(self.raw(self.encode(self.vector(rec))))
        return self.finish(raws)


def compile_pipeline(pipeline: Any, task: str) -> FastModel:
    """The fast twin of a fitted Pipeline; ``Unsupported`` says what stands in the way."""
    from sklearn.compose import ColumnTransformer, TransformedTargetRegressor
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer

    if not isinstance(pipeline, Pipeline):
        raise Unsupported(f"the model is a {type(pipeline).__name__}, not a Pipeline")
    front: list[Callable[[Record], Record]] = []
    vector: Callable[[Record], list[float]] | None = None
    for name, step in pipeline.steps[:-1]:
        if vector is None and type(step) is FunctionTransformer:
            front.append(_function_step(name, step))
        elif vector is None and type(step) is ColumnTransformer:
            vector = column_vector(step)
        else:
            raise Unsupported(f"step {name!r} ({type(step).__name__}) has no per-record twin")
    if vector is None:
        raise Unsupported("no ColumnTransformer step")
    final = pipeline.steps[-1][1]
    wrapper = None
    if type(final) is TransformedTargetRegressor:
        wrapper, final = final, final.regressor_
    if task == "classification" and type(final) is not HistGradientBoostingClassifier:
        raise Unsupported(f"classifier {type(final).__name__}")
    if task == "regression" and type(final) is not HistGradientBoostingRegressor:
        raise Unsupported(f"regressor {type(final).__name__}")
    n = int(final.n_features_in_)
    return FastModel(
        front=tuple(front),
        vector=vector,
        encode=internal_encoding(final, n),
        raw=compile_ensemble(final, n),
        finish=_finisher(final, wrapper, task),
        trees=len(final._predictors),
    )


def _function_step(name: str, step: Any) -> Callable[[Record], Record]:
    func = getattr(step.func, "__name__", "")
    twin = RECORD_STEPS.get(func)
    if twin is None or step.validate:
        raise Unsupported(f"step {name!r}: no per-record twin of function {func!r}")
    kwargs = dict(step.kw_args or {})
    return lambda rec: twin(rec, **kwargs)


def _finisher(est: Any, wrapper: Any, task: str) -> Callable[[list[float]], Any]:
    """Raw sums -> the pipeline's output, through the fitted objects' own array functions."""
    import numpy as np
    from sklearn.preprocessing import FunctionTransformer

    loss = est._loss
    if task == "classification":
        # HGB: raw (n, 1) -> loss.predict_proba (expit of the column, 1 - p beside it).
        return lambda raws: loss.predict_proba(np.array(raws, dtype=np.float64).reshape(-1, 1))
    if wrapper is None:
        return lambda raws: loss.link.inverse(np.array(raws, dtype=np.float64))
    if wrapper._training_dim != 1:
        raise Unsupported("a multi-output target transformer")
    transformer = wrapper.transformer_
    inverse = transformer.inverse_transform
    if type(transformer) is FunctionTransformer:
        # What its inverse_transform does after check_array, which leaves a C-contiguous
        # float64 column as it is: call inverse_func (np.expm1) on that same array.
        func = transformer.inverse_func or (lambda a: a)
        kwargs = dict(transformer.inv_kw_args or {})

        def inverse(column: Any) -> Any:
            return func(column, **kwargs)

    def finish(raws: list[float]) -> Any:
        pred = loss.link.inverse(np.array(raws, dtype=np.float64))
        out = inverse(pred.reshape(-1, 1))
        return out.squeeze(axis=1) if out.ndim == 2 and out.shape[1] == 1 else out

    return finish
