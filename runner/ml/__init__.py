"""ML lifecycle helpers shared by the three model projects.

``schemas`` (raw data contract, pure Python) -> ``validate`` (data checks, pandas)
-> ``features`` / ``modeling`` (scikit-learn pipelines) -> ``evaluate`` (metrics)
-> ``registry`` (MLflow) ; ``stages`` wires them into the DVC stages of each project and
``pipeline`` runs ``dvc repro`` for ``inv train``.

Nothing here imports pandas, scikit-learn or mlflow at module import time.
"""
