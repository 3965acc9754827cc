"""What every lifecycle command starts from: the service's spec, schema, folders and data.

The reference data of a service is what its serving model was trained on: the training
rows the retrain play saved for the spec's pinned version
(``<state>/lifecycle/<service>/train-v<N>.csv``), else the project's DVC-prepared
``data/prepared/train.csv``, else its raw data file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from runner.errors import PermanentError
from runner.ml.project import load_project
from runner.ml.schemas import DatasetSchema
from runner.spec.models import Platform, ServiceSpec

if TYPE_CHECKING:
    import pandas as pd


@dataclass
class ServiceContext:
    root: Path
    env: str
    name: str
    platform: Platform
    spec: ServiceSpec
    schema: DatasetSchema
    project_dir: Path
    state: Path

    @property
    def workdir(self) -> Path:
        """Lifecycle files of this service under the state dir (created)."""
        path = self.state / "lifecycle" / self.name
        path.mkdir(parents=True, exist_ok=True)
        return path

    @property
    def raw_data(self) -> Path:
        return self.project_dir / "data" / "raw" / self.schema.raw_file

    @property
    def spec_file(self) -> Path:
        return self.root / "specs" / "services" / f"{self.name}.yaml"


def service_context(root: Path, service: str, env: str = "dev") -> ServiceContext:
    """Load the specs (cached, validated) and resolve one service; one-line errors."""
    from runner.operations.speccache import load_platform_cached
    from runner.state.paths import state_dir

    root = root.resolve()
    platform = load_platform_cached(root, env, state_dir(root) / "cache")
    if service not in platform.services:
        raise PermanentError(f"{service} is not in the specs "
                             f"({', '.join(sorted(platform.services))})", field="--service")
    spec = platform.service(service)
    project_dir = root / spec.project
    schema = load_project(project_dir).contract
    state = state_dir(root, platform.platform.state_dir)
    return ServiceContext(root, env, service, platform, spec, schema, project_dir, state)


def reference_path(ctx: ServiceContext) -> Path:
    """The serving model's training data (see the module docstring)."""
    for candidate in (ctx.workdir / f"train-v{ctx.spec.model.version}.csv",
                      ctx.project_dir / "data" / "prepared" / "train.csv", ctx.raw_data):
        if candidate.is_file():
            return candidate
    raise PermanentError(f"{ctx.name}: no reference data: neither a promoted training set nor "
                         f"{ctx.raw_data.relative_to(ctx.root)} (run dvc pull or inv train)")


def feature_frame(df: pd.DataFrame, schema: DatasetSchema) -> pd.DataFrame:
    """The schema's feature columns typed alike for reference and current data.

    Whole-number columns without gaps become int64 (as in a CSV), so the column types
    Evidently infers (and our tests copy) do not depend on where the rows came from.
    Date columns are left out: the default tests do not apply to them.
    """
    import pandas as pd

    missing = [c for c in schema.feature_names if c not in df.columns]
    if missing and len(df):
        raise PermanentError(f"current data lacks column(s) {', '.join(missing)}",
                             field=missing[0])
    out: dict[str, pd.Series] = {}
    for col in schema.features:
        if col.kind == "date":
            continue
        series = df[col.name] if col.name in df.columns else pd.Series([], dtype=object)
        if col.numeric:
            values = pd.to_numeric(series, errors="coerce").astype("float64")
            if col.kind in ("int", "binary") and len(values) and not values.isna().any():
                values = values.astype("int64")
            out[col.name] = values
        else:
            out[col.name] = series.astype(object).where(series.notna(), None)
    return pd.DataFrame(out)
