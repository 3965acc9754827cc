"""Request records built from a project's raw data contract (runner.ml.schemas).

Ranges and categories live once, in the schema the training data is validated against;
the pydantic model here is derived from it, so a request the service accepts is a row
the ``prepare`` stage would have accepted too. Bad input gives FastAPI's 422 with the
field in ``loc``.

A contract may also declare the shape of the service it replaces (``LegacyApi``): its
fields that map onto ours (``drive`` -> ``is_4wd``), fields it accepted that the model
does not use, the defaults it filled in (``Column.default``) and its answer fields. Those
are built here from the declaration, so no project's names appear in this module.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from functools import lru_cache
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    create_model,
    model_validator,
)

from runner.errors import PermanentError
from runner.ml.schemas import NO_DEFAULT, REQUEST_DATE
from runner.serving.definition import PROBABILITY_BUCKETS, ServiceDefinition

if TYPE_CHECKING:
    from runner.ml.schemas import Column, DatasetSchema, RequestAlias

TEXT_MAX_CHARS = 200


class RecordBase(BaseModel):
    """Unknown fields are refused: a misspelt optional field must not silently become empty."""

    model_config = ConfigDict(extra="forbid")


def _iso_date(value: str) -> str:
    try:
        return dt.date.fromisoformat(value).isoformat()
    except ValueError:
        raise ValueError("must be a date YYYY-MM-DD") from None


def _field_type(col: Column) -> Any:
    """The pydantic annotation of one column: type plus range or category constraint."""
    if col.kind in ("int", "binary", "float"):
        base: Any = int if col.kind in ("int", "binary") else float
        # Whole floats such as 2011.0 pass as ints (CSV writers produce them); 2011.5 does not.
        meta = Field(ge=col.min, le=col.max, allow_inf_nan=False)
        tp: Any = Annotated[base, meta]
    elif col.kind == "category" and col.categories:
        tp = Literal[col.categories]  # Literal["a", "b"] from a tuple
    elif col.kind == "date":
        tp = Annotated[str, AfterValidator(_iso_date)]
    else:
        tp = Annotated[str, Field(min_length=1, max_length=TEXT_MAX_CHARS)]
    if col.empty_is is not None:
        # The data leaves this value empty; store a request's the same way.
        empty = col.empty_is
        tp = Annotated[tp, AfterValidator(lambda v: None if v == empty else v)]
    return tp | None if col.nullable or col.empty_is is not None else tp


def request_date() -> str:
    """Today (UTC) as YYYY-MM-DD: the default of a date column declared ``REQUEST_DATE``."""
    return dt.datetime.now(dt.UTC).date().isoformat()


def prediction_timestamp() -> str:
    """Now (UTC) as ``YYYY-MM-DDTHH:MM:SSZ``, the form earlier services answered with.
    Called for every answer of a batch: formatted once per second (a strftime per row was
    a tenth of a 1,000-row /predict_batch)."""
    return _utc_second(int(time.time()))


@lru_cache(maxsize=2)
def _utc_second(second: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(second))


def _field(col: Column) -> tuple[Any, Any]:
    """(annotation, FieldInfo) of one column: required, empty, or the declared default."""
    info: Any
    if col.default is REQUEST_DATE:
        if col.kind != "date":
            raise PermanentError(f"column {col.name}: REQUEST_DATE is a default for dates only")
        info = Field(default_factory=request_date, description=col.description)
    elif col.default is not NO_DEFAULT:
        # Checked (and normalised, e.g. ``empty_is``) like a sent value, once, at start.
        try:
            default = TypeAdapter(_field_type(col)).validate_python(col.default)
        except ValidationError as exc:
            msg = exc.errors()[0]["msg"]
            raise PermanentError(f"column {col.name}: default {col.default!r}: {msg}") from None
        info = Field(default, description=col.description)
    else:
        info = Field(... if col.required else None, description=col.description)
    return _field_type(col), info


def _alias_field(alias: RequestAlias, col: Column) -> tuple[Any, Any]:
    """An earlier API's field: its accepted values, never dumped (the column carries it)."""
    tp: Any = Literal[tuple(alias.values)] if alias.values else _field_type(col)
    return tp | None, Field(None, exclude=True, description=alias.description)


def _alias_validator(aliases: list[tuple[RequestAlias, TypeAdapter[Any]]]) -> Any:
    """The model step that moves each alias sent onto its column, before the field checks.

    So the column's own check (range, category) applies to the value and a required
    column is satisfied by its alias. A value the alias does not know is left where it
    is: the alias field's check names it.
    """
    names = frozenset(alias.name for alias, _ in aliases)

    def apply(cls: Any, data: Any) -> Any:
        if not isinstance(data, dict) or names.isdisjoint(data):
            return data
        data = dict(data)
        for alias, column_type in aliases:
            if alias.name not in data:
                continue
            raw = data[alias.name]
            if alias.values is not None:
                if not isinstance(raw, str) or raw not in alias.values:
                    continue
                value = alias.values[raw]
            else:
                value = raw
            del data[alias.name]
            if alias.column in data and not _same(column_type, data[alias.column], value):
                raise ValueError(f"{alias.name} and {alias.column} disagree; send one of them")
            data[alias.column] = value
        return data

    return model_validator(mode="before")(apply)


def _same(column_type: TypeAdapter[Any], a: Any, b: Any) -> bool:
    """Whether two sent values are one column value (an invalid one is reported later)."""
    try:
        return bool(column_type.validate_python(a) == column_type.validate_python(b))
    except ValidationError:
        return True


def record_model(schema: DatasetSchema) -> type[BaseModel]:
    """A pydantic model with one field per raw feature column of ``schema``.

    With ``schema.legacy``, the earlier API's aliases and ignored fields are accepted too
    (left out of ``model_dump``: the model sees only the columns).
    """
    fields: dict[str, Any] = {col.name: _field(col) for col in schema.features}
    validators: dict[str, Any] = {}
    legacy = schema.legacy
    if legacy is not None:
        aliases = []
        for alias in legacy.aliases:
            col = schema.column(alias.column)
            if alias.name in fields:
                raise PermanentError(f"{schema.project}: request alias {alias.name} is a column")
            fields[alias.name] = _alias_field(alias, col)
            aliases.append((alias, TypeAdapter(_field_type(col))))
        for name, why in legacy.ignored.items():
            if name in fields:
                raise PermanentError(f"{schema.project}: ignored field {name} is a column")
            fields[name] = (Any, Field(None, exclude=True, description=f"accepted, unused: {why}"))
        if aliases:
            validators["_legacy_aliases"] = _alias_validator(aliases)
    name = f"{schema.project.capitalize()}Record"
    model: type[BaseModel] = create_model(
        name, __base__=RecordBase, __validators__=validators, **fields
    )
    return model


def from_schema(
    schema: DatasetSchema,
    *,
    extra: Callable[[float], dict[str, Any]] | None = None,
    value_buckets: tuple[float, ...] | None = None,
) -> ServiceDefinition:
    """The service definition of a project, derived from its data contract."""
    categorical = frozenset(c.name for c in schema.features if not c.numeric)
    buckets = value_buckets or PROBABILITY_BUCKETS
    answers = tuple(schema.legacy.response.items()) if schema.legacy else ()
    return ServiceDefinition(
        name=schema.project,
        record=record_model(schema),
        task=schema.task,
        features=tuple(schema.feature_names),
        categorical=categorical,
        extra=extra,
        value_buckets=buckets,
        response_aliases=answers,
    )
