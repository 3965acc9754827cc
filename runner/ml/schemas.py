"""The types of a project's data contract: columns, kinds, ranges, categories, derivation.

Each project declares its contract in ``projects/<name>/contract.py`` (``CONTRACT =
DatasetSchema(...)``) with these types; training (validation in the ``prepare`` stage),
serving (request validation) and the drift checks all read that one object, so a range or
a category is changed once. This module and ``runner.serving.records`` are the part of the
toolkit a project imports. Pure Python on purpose: the CLI and the serving start-up import it.

The columns are the RAW columns of the CSV (the public data sets of the same names), not
derived features: the registered model is a full scikit-learn Pipeline that takes them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    import pandas as pd

# int: whole numbers (may arrive as floats like 2011.0 when the column has gaps);
# binary: 0/1; category: one of ``categories``; text: free string; date: ISO YYYY-MM-DD.
Kind = Literal["int", "float", "binary", "category", "text", "date"]
Task = Literal["classification", "regression"]


class _Marker:
    """A named marker value (no default given; the day a request arrives)."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


# ``Column.default`` when none is given: required unless nullable (then empty).
NO_DEFAULT: Any = _Marker("NO_DEFAULT")
# ``Column.default`` of a date column: the day the request arrives (UTC), as a posting date.
REQUEST_DATE: Any = _Marker("REQUEST_DATE")


@dataclass(frozen=True)
class Column:
    """One raw column. ``nullable`` means a request or a row may leave it empty.

    ``default`` is what a request that leaves the field out gets (the value an earlier API
    of the service filled in); without one a nullable field is empty and any other field
    is required. ``empty_is`` is the value an empty cell stands for in the data (the public
    vehicles file leaves non-4wd cars empty): a request carrying it is stored empty too,
    so the model sees it as it saw the training rows. Both apply to requests only.
    """

    name: str
    kind: Kind
    min: float | None = None
    max: float | None = None
    categories: tuple[str, ...] | None = None
    nullable: bool = False
    # Training data may have at most this share of empty cells (real data has gaps).
    max_null_share: float = 0.0
    description: str = ""
    default: Any = NO_DEFAULT
    empty_is: float | str | None = None

    @property
    def required(self) -> bool:
        """A request must carry the field (no default, not nullable)."""
        return self.default is NO_DEFAULT and not self.nullable

    @property
    def numeric(self) -> bool:
        return self.kind in ("int", "float", "binary")

    @property
    def python_type(self) -> type:
        """The JSON/pydantic type of one value (int, float or str)."""
        return {"int": int, "binary": int, "float": float}.get(self.kind, str)


@dataclass(frozen=True)
class Derivation:
    """A project's own feature step, run inside the model pipeline after input cleaning.

    ``func`` takes the clean raw frame and returns it with columns added and removed; it
    must be a module-level function of the project's ``features.py``: the fitted pipeline
    stores it by reference (``projects.<name>.features.<func>``), so changing what it
    computes changes every registered model that uses it. The column lists let the
    encoders that follow be built from the contract without running ``func`` first.
    """

    func: Callable[[pd.DataFrame], pd.DataFrame]
    numeric: tuple[str, ...] = ()
    categorical: tuple[str, ...] = ()
    dropped: tuple[str, ...] = ()

    @property
    def qualified_name(self) -> str:
        """``module.function``: how pickle and skops name the function."""
        return f"{self.func.__module__}.{self.func.__qualname__}"


@dataclass(frozen=True)
class RequestAlias:
    """A request field of an earlier API of the service that sets one of our columns.

    ``values`` maps each value the earlier API took to the column's value (``drive``
    "4wd" -> ``is_4wd`` 1); other values are refused. Without ``values`` the field is a
    plain rename. A request may carry the alias or the column; both must then agree.
    """

    name: str
    column: str
    values: Mapping[str, Any] | None = None
    description: str = ""


@dataclass(frozen=True)
class LegacyApi:
    """The request and response shape of the service a project replaces, kept working.

    ``aliases``: its fields that map onto ours. ``ignored``: fields it accepted that the
    model does not use (name -> why): accepted and dropped, so its clients' payloads pass
    while a misspelt field is still refused. ``response``: its answer fields, each a copy
    of one of ours (``predicted_price`` -> ``prediction``). ``source``: where it is
    published, for people reading the contract.
    """

    source: str
    aliases: tuple[RequestAlias, ...] = ()
    ignored: Mapping[str, str] = field(default_factory=dict)
    response: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class DatasetSchema:
    """A project's data set: raw file name, features, target, and the columns we drop."""

    project: str
    raw_file: str
    task: Task
    target: Column
    features: tuple[Column, ...]
    model_name: str
    primary_metric: str
    # Columns the raw file may carry that are never features (ids, names).
    dropped: tuple[str, ...] = ()
    example: dict[str, Any] = field(default_factory=dict)
    # Derived features computed inside the pipeline (None: the raw columns are the features).
    derivation: Derivation | None = None
    # The earlier service's request/response shape this project's service also speaks.
    legacy: LegacyApi | None = None

    @property
    def feature_names(self) -> list[str]:
        return [c.name for c in self.features]

    @property
    def categorical(self) -> list[str]:
        return [c.name for c in self.features if c.kind in ("category", "text")]

    def column(self, name: str) -> Column:
        for col in (*self.features, self.target):
            if col.name == name:
                return col
        raise KeyError(name)
