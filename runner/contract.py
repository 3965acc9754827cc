"""The metric contract between model services, the runner's exporter, alert rules and dashboards.

Services export these names (runner.serving), the runner exports its own (runner exporter),
and the rendered Prometheus rules and Grafana dashboards query only names listed here.
A test cross-checks both directions, so renaming a metric here is the one change needed.

Prometheus adds the ``service`` and ``replica`` labels from the scrape configuration;
the services themselves do not set them.
"""

from __future__ import annotations

# --- exported by every model service replica (GET /metrics) -------------------------
REQUESTS_TOTAL = "mlservice_requests_total"  # counter{endpoint, method, status}
REQUEST_DURATION = "mlservice_request_duration_seconds"  # histogram{endpoint}
PREDICTIONS_TOTAL = "mlservice_predictions_total"  # counter{outcome} class name, or "value"
PREDICTION_VALUE = "mlservice_prediction_value"  # histogram: probability of positive class / value
MODEL_INFO = "mlservice_model_info"  # gauge=1 {model_name, model_version, run_id}
MODEL_LOADED = "mlservice_model_loaded"  # gauge 1/0
PROCESS_CPU = "process_cpu_seconds_total"  # prometheus_client process collector
PROCESS_MEMORY = "process_resident_memory_bytes"  # prometheus_client process collector

# Housekeeping of a replica, not on dashboards: prediction-log rows lost, by reason
# (queue_full: the writer fell behind; write_failed: the disk refused a batch).
PREDICTION_LOG_DROPPED = "mlservice_prediction_log_dropped_rows_total"  # counter{reason}

SERVICE_METRICS = (
    REQUESTS_TOTAL,
    REQUEST_DURATION,
    PREDICTIONS_TOTAL,
    PREDICTION_VALUE,
    MODEL_INFO,
    MODEL_LOADED,
    PROCESS_CPU,
    PROCESS_MEMORY,
)

# --- exported by the runner's own exporter (runner process, /metrics) ---------------
DRIFT_SHARE = "mlgitops_drift_share"  # gauge{service}: share of drifted columns
SERVICE_REVISION = "mlgitops_service_revision"  # gauge{service}
SERVICE_MODEL_VERSION = "mlgitops_service_model_version"  # gauge{service}
LAST_RECONCILE_TIMESTAMP = "mlgitops_last_reconcile_timestamp_seconds"  # gauge
LAST_RECONCILE_SUCCESS = "mlgitops_last_reconcile_success"  # gauge 1/0
APPLY_DURATION = "mlgitops_apply_duration_seconds"  # histogram
# The pull loop (inv reconcile --watch --git), like Argo CD's sync status: 1 on the row of
# the environment's current status (synced|failed|refused|unknown), with the commit it
# last converged to and the newest refused commit ("" when none).
SYNC_INFO = "mlgitops_sync_info"  # gauge{environment, status, synced_commit, refused_commit}
# Crash loops (runner/reconcile/crashloop.py): consecutive crashes at the current revision;
# a service held (not restarted any more) has reached the cap.
SERVICE_CRASHES = "mlgitops_service_crashes"  # gauge{service, held}

RUNNER_METRICS = (
    DRIFT_SHARE,
    SERVICE_REVISION,
    SERVICE_MODEL_VERSION,
    LAST_RECONCILE_TIMESTAMP,
    LAST_RECONCILE_SUCCESS,
    APPLY_DURATION,
    SYNC_INFO,
    SERVICE_CRASHES,
)

# Prometheus target labels added by the scrape config.
LABEL_SERVICE = "service"
LABEL_REPLICA = "replica"
