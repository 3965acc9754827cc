"""ML lifecycle helpers shared by the model projects.

``project`` (loads ``projects/<name>/``: its contract and features) and ``schemas`` (the
contract types, pure Python) -> ``validate`` (data checks, pandas)
-> ``features`` / ``modeling`` (scikit-learn pipelines) -> ``evaluate`` (metrics)
-> ``registry`` (MLflow) ; ``stages`` wires them into the DVC stages of each project and
``pipeline`` runs ``dvc repro`` for ``inv train``.

Nothing here imports pandas, scikit-learn or mlflow at module import time.
"""
