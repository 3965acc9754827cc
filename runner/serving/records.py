"""Request records built from a project's raw data contract (runner.ml.schemas).

Ranges and categories live once, in the schema the training data is validated against;
the pydantic model here is derived from it, so a request the service accepts is a row
the ``prepare`` stage would have accepted too. Bad input gives FastAPI's 422 with the
field in ``loc``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, create_model

from runner.serving.definition import PROBABILITY_BUCKETS, ServiceDefinition

if TYPE_CHECKING:
    from runner.ml.schemas import Column, DatasetSchema

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
    return tp | None if col.nullable else tp


def record_model(schema: DatasetSchema) -> type[BaseModel]:
    """A pydantic model with one field per raw feature column of ``schema``."""
    fields: dict[str, Any] = {}
    for col in schema.features:
        default: Any = None if col.nullable else ...
        fields[col.name] = (_field_type(col), Field(default, description=col.description))
    name = f"{schema.project.capitalize()}Record"
    model: type[BaseModel] = create_model(name, __base__=RecordBase, **fields)
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
    return ServiceDefinition(
        name=schema.project,
        record=record_model(schema),
        task=schema.task,
        features=tuple(schema.feature_names),
        categorical=categorical,
        extra=extra,
        value_buckets=buckets,
    )
