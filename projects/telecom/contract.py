"""telecom's data contract: the monthly usage columns of ``users_behavior.csv``.

Read by the toolkit through ``runner.ml.project.load_project`` (training, serving, drift).

The original TelecomAI API took the same four fields (``LEGACY``) and answered with
``probability_is_ultra`` beside ``prediction``.
"""

from __future__ import annotations

from runner.ml.schemas import Column, DatasetSchema, LegacyApi

# The original service: DuqueOM/ML-MLOps-Portfolio, TelecomAI-Customer-Intelligence/app/
# fastapi_app.py (TelecomFeatures). One revision of its docs/api/rest-apis.md shows an
# ``is_ultimate`` field in the example request that the service never read (pydantic
# ignored it): accepted and dropped here too, so that published payload still works.
LEGACY = LegacyApi(
    source="DuqueOM/ML-MLOps-Portfolio TelecomAI-Customer-Intelligence/app/fastapi_app.py",
    ignored={"is_ultimate": "the current plan; the original service never read it"},
    response={"probability_is_ultra": "probability"},
)

CONTRACT = DatasetSchema(
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
    legacy=LEGACY,
)
