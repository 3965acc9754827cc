"""The raw data contract of each model project: columns, kinds, ranges, categories.

One place that training (validation in the ``prepare`` stage), serving (request validation
in ``projects/<name>/service.py``) and the drift checks all read, so a range or a category
is changed once. Pure Python on purpose: the CLI and the serving start-up import it.

The columns are the RAW columns of the CSV (the public data sets of the same names), not
derived features: the registered model is a full scikit-learn Pipeline that takes them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

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


BANKCHURN = DatasetSchema(
    project="bankchurn",
    raw_file="Churn.csv",
    task="classification",
    model_name="bankchurn-model",
    primary_metric="roc_auc",
    target=Column("Exited", "binary", 0, 1, description="1 = the customer left"),
    dropped=("RowNumber", "CustomerId", "Surname"),
    features=(
        Column("CreditScore", "int", 300, 850),
        Column("Geography", "category", categories=("France", "Germany", "Spain")),
        Column("Gender", "category", categories=("Female", "Male")),
        Column("Age", "int", 18, 100),
        Column("Tenure", "int", 0, 10, nullable=True, max_null_share=0.5,
               description="years as a customer; missing for about 9% of rows"),
        Column("Balance", "float", 0, 1_000_000),
        Column("NumOfProducts", "int", 1, 4),
        Column("HasCrCard", "binary", 0, 1),
        Column("IsActiveMember", "binary", 0, 1),
        Column("EstimatedSalary", "float", 0, 1_000_000),
    ),
    example={
        "CreditScore": 619, "Geography": "France", "Gender": "Female", "Age": 42,
        "Tenure": 2, "Balance": 0.0, "NumOfProducts": 1, "HasCrCard": 1,
        "IsActiveMember": 1, "EstimatedSalary": 101348.88,
    },
)

CONDITIONS = ("new", "like new", "excellent", "good", "fair", "salvage")
FUELS = ("gas", "diesel", "hybrid", "electric", "other")
TRANSMISSIONS = ("automatic", "manual", "other")
TYPES = (
    "SUV", "bus", "convertible", "coupe", "hatchback", "mini-van", "offroad", "other",
    "pickup", "sedan", "truck", "van", "wagon",
)
COLORS = (
    "black", "blue", "brown", "custom", "green", "grey", "orange", "purple", "red",
    "silver", "white", "yellow",
)

CARVISION = DatasetSchema(
    project="carvision",
    raw_file="vehicles_us.csv",
    task="regression",
    model_name="carvision-model",
    primary_metric="r2",
    target=Column("price", "float", 0, 1_000_000, description="asking price in USD"),
    features=(
        Column("model_year", "int", 1900, 2030, nullable=True, max_null_share=0.5),
        Column("model", "text", description='brand first, e.g. "ford f-150"'),
        Column("condition", "category", categories=CONDITIONS),
        Column("cylinders", "int", 2, 16, nullable=True, max_null_share=0.5),
        Column("fuel", "category", categories=FUELS),
        Column("odometer", "float", 0, 2_000_000, nullable=True, max_null_share=0.5),
        Column("transmission", "category", categories=TRANSMISSIONS),
        Column("type", "category", categories=TYPES),
        Column("paint_color", "category", categories=COLORS, nullable=True,
               max_null_share=0.5),
        # The public data has 1.0 or empty (empty = not 4wd), so empty is allowed.
        Column("is_4wd", "binary", 0, 1, nullable=True, max_null_share=0.9),
        Column("date_posted", "date", description="ISO date YYYY-MM-DD"),
        Column("days_listed", "int", 0, 1000),
    ),
    example={
        "model_year": 2011, "model": "bmw x5", "condition": "good", "cylinders": 6,
        "fuel": "gas", "odometer": 145000.0, "transmission": "automatic", "type": "SUV",
        "paint_color": None, "is_4wd": 1, "date_posted": "2018-06-23", "days_listed": 19,
    },
)

TELECOM = DatasetSchema(
    project="telecom",
    raw_file="users_behavior.csv",
    task="classification",
    model_name="telecom-model",
    primary_metric="roc_auc",
    target=Column("is_ultra", "binary", 0, 1, description="1 = on the Ultra plan"),
    features=(
        Column("calls", "float", 0, 1000, description="calls per month"),
        Column("minutes", "float", 0, 10_000, description="call minutes per month"),
        Column("messages", "float", 0, 1000, description="text messages per month"),
        Column("mb_used", "float", 0, 200_000, description="mobile data in MB per month"),
    ),
    example={"calls": 40.0, "minutes": 311.9, "messages": 83.0, "mb_used": 19915.42},
)

SCHEMAS: dict[str, DatasetSchema] = {s.project: s for s in (BANKCHURN, CARVISION, TELECOM)}


def get_schema(project: str) -> DatasetSchema:
    """The schema of a project by name; KeyError names the known projects."""
    try:
        return SCHEMAS[project]
    except KeyError:
        raise KeyError(f"unknown project {project!r}; known: {', '.join(SCHEMAS)}") from None
