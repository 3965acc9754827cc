"""Build the scikit-learn pipelines: the model each project registers and its baselines.

Every pipeline takes the RAW feature columns of the project's schema and does the rest
itself (clean -> derive -> impute/encode/scale -> estimator), so the registered model
serves raw requests and works on the public data sets as well as on generated data.

The model is a HistGradientBoosting estimator: fast on two cores, handles interactions
and skew, and takes ordinal-encoded categories natively. Baselines: a dummy (prior /
median) that any useful model must beat, and a linear model on one-hot features that
shows what the boosting adds.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from runner.errors import PermanentError
from runner.ml.schemas import DatasetSchema

if TYPE_CHECKING:
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline


def feature_columns(schema: DatasetSchema) -> tuple[list[str], list[str]]:
    """(numeric, categorical) columns after the project's derivation step."""
    numeric = [c.name for c in schema.features if c.numeric]
    categorical = [c.name for c in schema.features if c.kind in ("category", "text")]
    derived = schema.derivation
    if derived is not None:
        numeric = [c for c in numeric if c not in derived.dropped] + list(derived.numeric)
        categorical = [c for c in categorical if c not in derived.dropped] + list(
            derived.categorical)
    return numeric, categorical


def _front(schema: DatasetSchema) -> list[tuple[str, Any]]:
    """The steps every pipeline starts with: input cleaning, then the project's derivation."""
    from sklearn.preprocessing import FunctionTransformer

    from runner.ml import features

    raw_numeric = [c.name for c in schema.features if c.numeric]
    raw_categorical = [c.name for c in schema.features if c.kind in ("category", "text")]
    steps: list[tuple[str, Any]] = [(
        "clean",
        FunctionTransformer(
            features.clean_input,
            kw_args={"numeric": raw_numeric, "categorical": raw_categorical},
        ),
    )]
    if schema.derivation is not None:
        steps.append(("derive", FunctionTransformer(schema.derivation.func)))
    return steps


def preprocessor(schema: DatasetSchema, encoding: str) -> ColumnTransformer:
    """Impute, scale numerics; impute and encode categories (``ordinal`` or ``onehot``).

    Categories go first so a tree model can mark them by position as categorical.
    """
    import numpy as np
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler

    numeric, categorical = feature_columns(schema)
    if encoding == "ordinal":
        # Rare categories share one code; more than 250 would exceed the trees' bins.
        encoder: Any = OrdinalEncoder(
            handle_unknown="use_encoded_value", unknown_value=np.nan,
            max_categories=250, min_frequency=5,
        )
    else:
        encoder = OneHotEncoder(handle_unknown="infrequent_if_exist", min_frequency=20,
                                sparse_output=False)
    transformers: list[tuple[str, Any, list[str]]] = []
    if categorical:
        cat = make_pipeline(SimpleImputer(strategy="constant", fill_value="missing"), encoder)
        transformers.append(("cat", cat, categorical))
    num = make_pipeline(SimpleImputer(strategy="median", add_indicator=True), StandardScaler())
    transformers.append(("num", num, numeric))
    return ColumnTransformer(transformers, remainder="drop", verbose_feature_names_out=False)


def build_model(schema: DatasetSchema, params: dict[str, Any]) -> Pipeline:
    """The project's model: ``params`` is the ``train`` section of params.yaml."""
    import numpy as np
    from sklearn.compose import TransformedTargetRegressor
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
    from sklearn.pipeline import Pipeline

    hgb = dict(params.get("model", {}))
    hgb.setdefault("random_state", params.get("seed", 0))
    # A fixed number of boosting rounds keeps training deterministic and its time bounded.
    hgb.setdefault("early_stopping", False)
    n_cat = len(feature_columns(schema)[1])
    if n_cat:
        hgb["categorical_features"] = list(range(n_cat))
    try:
        if schema.task == "classification":
            estimator: Any = HistGradientBoostingClassifier(**hgb)
        else:
            estimator = HistGradientBoostingRegressor(**hgb)
            if params.get("log_target", True):
                # Prices are right-skewed; fitting log(1 + price) weighs errors relatively.
                estimator = TransformedTargetRegressor(
                    regressor=estimator, func=np.log1p, inverse_func=np.expm1
                )
    except TypeError as exc:
        raise PermanentError(f"params.yaml train.model: {exc}") from None
    return Pipeline([*_front(schema), ("preprocess", preprocessor(schema, "ordinal")),
                     ("model", estimator)])


def build_baselines(schema: DatasetSchema, params: dict[str, Any]) -> dict[str, Pipeline]:
    """``dummy`` (prior / median) and ``linear`` (logistic / ridge on one-hot features)."""
    import numpy as np
    from sklearn.compose import TransformedTargetRegressor
    from sklearn.dummy import DummyClassifier, DummyRegressor
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.pipeline import Pipeline

    if schema.task == "classification":
        dummy: Any = DummyClassifier(strategy="prior")
        linear: Any = LogisticRegression(
            max_iter=2000, class_weight=params.get("model", {}).get("class_weight")
        )
    else:
        dummy = DummyRegressor(strategy="median")
        linear = TransformedTargetRegressor(regressor=Ridge(alpha=1.0), func=np.log1p,
                                            inverse_func=np.expm1)
    return {
        "dummy": Pipeline([*_front(schema), ("preprocess", preprocessor(schema, "onehot")),
                           ("model", dummy)]),
        "linear": Pipeline([*_front(schema), ("preprocess", preprocessor(schema, "onehot")),
                            ("model", linear)]),
    }
