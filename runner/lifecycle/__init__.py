"""The ML lifecycle after training: drift, retraining with a champion/challenger gate,
promotion through the spec, registry history, data versions and simulated drift.

``drift`` (decision with ``stattests``, report with Evidently) -> ``retrain`` (the
``playbooks/retrain.yaml`` steps in ``steps``, the gate in ``gate``, promotion in
``promote``) ; ``history`` answers "which version served at time T"; ``data_versions``
validates and rolls back DVC data; ``simulate`` sends shifted traffic. Heavy imports
(pandas, sklearn, mlflow, evidently) happen inside functions only.
"""
