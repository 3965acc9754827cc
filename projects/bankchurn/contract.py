"""bankchurn's data contract: the raw columns of ``Churn.csv``, their ranges and categories.

Read by the toolkit through ``runner.ml.project.load_project``: the ``prepare`` stage
validates the raw file against it, the service builds its request record from it and
the drift checks compare its columns.

The original BankChurn API took the same ten fields (``LEGACY``); its answer named the
churn probability and label ``churn_probability`` and ``churn_prediction``.
"""

from __future__ import annotations

from runner.ml.schemas import Column, DatasetSchema, LegacyApi

# The original service: DuqueOM/ML-MLOps-Portfolio, BankChurn-Predictor/app/fastapi_app.py
# (CustomerData, PredictionResponse). Same request fields; its answer fields are kept.
LEGACY = LegacyApi(
    source="DuqueOM/ML-MLOps-Portfolio BankChurn-Predictor/app/fastapi_app.py",
    response={"churn_probability": "probability", "churn_prediction": "prediction"},
)

CONTRACT = DatasetSchema(
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
    legacy=LEGACY,
)
