"""telecom's data contract: the monthly usage columns of ``users_behavior.csv``.

Read by the toolkit through ``runner.ml.project.load_project`` (training, serving, drift).
"""

from __future__ import annotations

from runner.ml.schemas import Column, DatasetSchema

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
)
