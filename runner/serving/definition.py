"""What a project's ``service.py`` supplies to the shared serving code, and how it is loaded.

A project declares one ``SERVICE = ServiceDefinition(...)``: the pydantic model of one
request record (ranges, categories), the feature columns in the order the model was
trained on, and the task. Everything else (routes, metrics, health, logging) is shared.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel

from runner.errors import PermanentError

if TYPE_CHECKING:
    import pandas as pd

Task = Literal["classification", "regression"]

# Classifier probabilities; regressors pass their own buckets (prices, minutes, ...).
PROBABILITY_BUCKETS: tuple[float, ...] = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
MAX_BATCH = 1000
SAMPLE_REQUEST = Path("tests") / "fixtures" / "sample_request.json"


@dataclass(frozen=True)
class ServiceDefinition:
    """One project's serving surface. ``extra`` adds fields to each prediction (risk_level).

    ``response_aliases`` are (field, ours) pairs: answer fields of the service the project
    replaces, each a copy of one of ours (``predicted_price`` = ``prediction``).
    """

    name: str
    record: type[BaseModel]
    task: Task
    features: tuple[str, ...]
    categorical: frozenset[str] = field(default_factory=frozenset)
    extra: Callable[[float], dict[str, Any]] | None = None
    value_buckets: tuple[float, ...] = PROBABILITY_BUCKETS
    max_batch: int = MAX_BATCH
    response_aliases: tuple[tuple[str, str], ...] = ()
    _cache: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        declared = set(self.record.model_fields)
        missing = [f for f in self.features if f not in declared]
        if missing:
            raise PermanentError(f"service {self.name}: features not in the record: {missing}")
        unknown = sorted(self.categorical - set(self.features))
        if unknown:
            raise PermanentError(f"service {self.name}: categorical columns unknown: {unknown}")
        answers = {"prediction", "probability"} if self.task == "classification" else {
            "prediction"}
        bad = [ours for _, ours in self.response_aliases if ours not in answers]
        if bad and self.extra is None:
            raise PermanentError(f"service {self.name}: response aliases of unknown fields: {bad}")

    def answer(self, prediction: Any, value: float, probability: bool) -> dict[str, Any]:
        """One prediction's JSON object: ours, the project's extra fields, then the aliases."""
        item: dict[str, Any] = {"prediction": prediction}
        if probability:
            item["probability"] = value
        extra = self.extra
        if extra is not None:
            item.update(extra(value))
        for name, ours in self.response_aliases:
            item[name] = item[ours]
        return item

    def frame(self, rows: Sequence[dict[str, Any]]) -> pd.DataFrame:
        """The model's input, typed like the clean frame training saw (runner.ml.data_validation).

        Numeric columns are float64 with NaN for gaps; the others are object arrays with
        None for gaps. Matching training's representation of "missing" matters more than
        speed: an imputer fitted on None does not recognise NaN, and the other way round.
        """
        import numpy as np
        import pandas as pd

        nan = math.nan
        if not self.categorical:
            # All numeric (telecom): one 2-D float block is several times cheaper to build
            # than a frame from per-column arrays, which matters at ~1 ms per prediction.
            table = [[nan if row[n] is None else row[n] for n in self.features] for row in rows]
            block = np.array(table, dtype=np.float64).reshape(len(rows), len(self.features))
            return pd.DataFrame(block, columns=self._column_index(), copy=False)
        columns: dict[str, Any] = {}
        for name in self.features:
            if name in self.categorical:
                columns[name] = np.array([row[name] for row in rows], dtype=object)
            else:
                values = [nan if row[name] is None else row[name] for row in rows]
                columns[name] = np.array(values, dtype=np.float64)
        return pd.DataFrame(columns, copy=False)

    def _column_index(self) -> pd.Index:
        import pandas as pd

        cached = self._cache.get("columns")
        if cached is None:
            cached = self._cache["columns"] = pd.Index(self.features)
        return cached


def load_definition(project_dir: Path) -> ServiceDefinition:
    """The SERVICE of ``<project_dir>/service.py``, imported as part of its project.

    The project is loaded first (``runner.ml.project``): ``service.py`` imports its
    contract relatively, and a model that references the project's feature functions
    can only be unpickled once they are importable.
    """
    from runner.ml.project import load_project, project_module

    path = project_dir / "service.py"
    if not path.is_file():
        raise PermanentError(f"{path}: does not exist")
    load_project(project_dir)
    definition = getattr(project_module(project_dir, "service"), "SERVICE", None)
    if not isinstance(definition, ServiceDefinition):
        raise PermanentError(f"{path}: SERVICE must be a runner.serving.ServiceDefinition")
    return definition


def load_sample(project_dir: Path) -> dict[str, Any]:
    """The project's smoke-test record (also the health self-test input)."""
    path = project_dir / SAMPLE_REQUEST
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise PermanentError(f"{path}: cannot read the sample request: {exc}") from None
    if not isinstance(data, dict):
        raise PermanentError(f"{path}: the sample request must be one JSON object")
    return data
