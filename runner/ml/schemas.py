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

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    import pandas as pd

# int: whole numbers (may arrive as floats like 2011.0 when the column has gaps);
# binary: 0/1; category: one of ``categories``; text: free string; date: ISO YYYY-MM-DD.
Kind = Literal["int", "float", "binary", "category", "text", "date"]
Task = Literal["classification", "regression"]


@dataclass(frozen=True)
class Column:
    """One raw column. ``nullable`` means a request or a row may leave it empty."""

    name: str
    kind: Kind
    min: float | None = None
    max: float | None = None
    categories: tuple[str, ...] | None = None
    nullable: bool = False
    # Training data may have at most this share of empty cells (real data has gaps).
    max_null_share: float = 0.0
    description: str = ""

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
