"""The first step of every registered pipeline: make raw request and training frames alike.

``clean_input`` is a plain module-level function used through ``FunctionTransformer``:
pickle stores it by reference (``runner.ml.features.clean_input``), so a process that
loads a registered model needs the ``runner`` package importable (the serving image
installs it). Changing what it computes changes every model that references it, so add a
new function rather than editing this one.

A project's own derived features live in ``projects/<name>/features.py`` (see
``runner.ml.schemas.Derivation``). Models registered before that move reference them
here (``runner.ml.features.car_features``); :func:`__getattr__` still resolves those.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd


def clean_input(
    frame: pd.DataFrame, numeric: Sequence[str] = (), categorical: Sequence[str] = ()
) -> pd.DataFrame:
    """Make request frames and training frames look the same to the encoders.

    JSON nulls arrive as None; imputers only see NaN. A numeric column with only nulls is
    object-typed in pandas and would break the imputer, so numerics are coerced here.
    """
    import numpy as np
    import pandas as pd

    df = frame.copy()
    for name in numeric:
        if name in df.columns:
            df[name] = pd.to_numeric(df[name], errors="coerce").astype("float64")
    for name in categorical:
        if name in df.columns:
            col = df[name].astype(object)
            df[name] = col.where(col.notna(), np.nan).map(
                lambda v: v if isinstance(v, float) else str(v)
            )
    return df


def __getattr__(name: str) -> Any:
    """A derivation function of a loaded project, for models that name it under this module.

    Models registered before projects owned their features store e.g.
    ``runner.ml.features.car_features``; unpickling asks this module for it. The project
    must be loaded first (``runner.ml.project.load_project``, as serving and the stages
    do), so nothing here names a project.
    """
    if not name.startswith("_"):
        for module_name, module in list(sys.modules.items()):
            if module_name.startswith("projects.") and module_name.endswith(".features"):
                found = getattr(module, name, None)
                if callable(found) and getattr(found, "__module__", None) == module_name:
                    return found
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
