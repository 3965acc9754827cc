"""Check a data frame against a project's schema; the error names every bad column.

Used by the ``prepare`` stage of each DVC pipeline, by ``inv data validate`` and by the
retrain play before training on new data. It returns a clean frame (columns in schema
order, numeric dtypes coerced, dates normalised to ``YYYY-MM-DD`` strings) so training
never sees the quirks of a particular CSV writer, such as ``2011.0`` for a year.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from runner.errors import DataValidationError, Location
from runner.ml.schemas import Column, DatasetSchema

if TYPE_CHECKING:
    import pandas as pd

_MAX_EXAMPLES = 3


def _examples(values: Any) -> str:
    shown = [repr(v) for v in list(dict.fromkeys(values))[:_MAX_EXAMPLES]]
    return ", ".join(shown)


def _check_column(series: pd.Series, col: Column) -> tuple[pd.Series, list[str]]:
    """Coerce one column to its kind; return it and the problems found (without the name)."""
    import numpy as np
    import pandas as pd

    problems: list[str] = []
    raw = series.copy()
    if raw.dtype == object:
        # Blank strings are gaps in CSV exports, not values.
        raw = raw.where(~raw.astype(str).str.strip().eq(""), None)
    present = raw.notna()

    if col.numeric:
        values = pd.to_numeric(raw, errors="coerce")
        bad = present & values.isna()
        if bad.any():
            problems.append(f"{int(bad.sum())} value(s) are not numbers, e.g. "
                            f"{_examples(raw[bad])}")
        if col.kind in ("int", "binary"):
            fractional = values.notna() & (values != np.floor(values))
            if fractional.any():
                problems.append(f"{int(fractional.sum())} value(s) are not whole numbers, "
                                f"e.g. {_examples(values[fractional])}")
        low = values < col.min if col.min is not None else pd.Series(False, index=values.index)
        high = values > col.max if col.max is not None else pd.Series(False, index=values.index)
        if (low | high).any():
            problems.append(f"{int((low | high).sum())} value(s) outside [{col.min:g}, "
                            f"{col.max:g}], e.g. {_examples(values[low | high])}")
        out = values.astype("float64")
        if col.kind in ("int", "binary") and not out.isna().any() and not problems:
            out = out.astype("int64")
    elif col.kind == "date":
        parsed = pd.to_datetime(raw, format="%Y-%m-%d", errors="coerce")
        bad = present & parsed.isna()
        if bad.any():
            problems.append(f"{int(bad.sum())} value(s) are not dates YYYY-MM-DD, e.g. "
                            f"{_examples(raw[bad])}")
        out = parsed.dt.strftime("%Y-%m-%d").astype(object).where(parsed.notna(), None)
    else:
        out = raw.astype(object).where(present, None)
        out = out.map(lambda v: v if v is None else str(v))
        if col.categories is not None:
            unknown = present & ~out.isin(col.categories)
            if unknown.any():
                problems.append(f"{int(unknown.sum())} value(s) not in the allowed categories "
                                f"({', '.join(col.categories)}), e.g. {_examples(out[unknown])}")

    nulls = int(out.isna().sum())
    allowed = col.max_null_share if col.nullable else 0.0
    if nulls and nulls / max(len(out), 1) > allowed:
        share = nulls / len(out)
        limit = "none allowed" if not col.nullable else f"at most {allowed:.0%} allowed"
        problems.append(f"{nulls} empty value(s) ({share:.1%}), {limit}")
    return out, problems


def validate_frame(
    df: pd.DataFrame,
    schema: DatasetSchema,
    *,
    require_target: bool = True,
    source: str | None = None,
) -> pd.DataFrame:
    """Return the schema's columns of ``df``, coerced; raise DataValidationError otherwise.

    Extra columns (ids, names, anything else) are ignored so the public data sets and our
    generated ones both pass. The error lists every problem, each led by its column name.
    """
    import pandas as pd

    location = Location(source) if source else None
    columns = list(schema.features) + ([schema.target] if require_target else [])
    missing = [c.name for c in columns if c.name not in df.columns]
    if missing:
        raise DataValidationError(
            f"missing column(s): {', '.join(missing)}", location=location, field=missing[0]
        )
    if df.empty:
        raise DataValidationError("no rows", location=location)

    clean: dict[str, pd.Series] = {}
    problems: list[tuple[str, str]] = []
    for col in columns:
        clean[col.name], found = _check_column(df[col.name], col)
        problems.extend((col.name, p) for p in found)

    if require_target and schema.task == "classification" and not problems:
        classes = set(clean[schema.target.name].unique())
        if len(classes) < 2:
            problems.append((schema.target.name, f"only one class present: {sorted(classes)}"))

    if problems:
        names = {name for name, _ in problems}
        if len(names) == 1:
            raise DataValidationError("; ".join(msg for _, msg in problems),
                                      location=location, field=problems[0][0])
        text = "; ".join(f"{name}: {msg}" for name, msg in problems)
        raise DataValidationError(text, location=location)
    return pd.DataFrame(clean, index=df.index)


def read_csv(path: Path) -> pd.DataFrame:
    """Read a raw CSV as text-preserving as possible; a missing or broken file is one error."""
    import pandas as pd

    if not path.is_file():
        raise DataValidationError("file not found", location=Location(str(path)))
    try:
        return pd.read_csv(path, low_memory=False)
    except (ValueError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DataValidationError(f"cannot parse CSV: {first}", location=Location(str(path))) \
            from None


def validate_csv(
    path: Path, schema: DatasetSchema, *, require_target: bool = True
) -> pd.DataFrame:
    """Read and validate one raw CSV; errors carry the file name."""
    return validate_frame(
        read_csv(path), schema, require_target=require_target, source=str(path)
    )
