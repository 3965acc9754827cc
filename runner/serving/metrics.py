"""The service metrics of runner/contract.py, in one registry per app.

A registry per app (not prometheus_client's global one) lets tests build several apps
in one process, and keeps /metrics to exactly the contract's names plus the process
collector. Rules and dashboards query only names from runner.contract.
"""

from __future__ import annotations

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    disable_created_metrics,
    generate_latest,
)

from runner import contract

# Seconds. Includes the alert thresholds (latency_p99_s warning 2, critical 5) as bucket
# bounds so histogram_quantile is exact where the alerts compare.
LATENCY_BUCKETS = (
    0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0,
)  # fmt: skip


class ServiceMetrics:
    """Holds the metric objects; the app and the middleware update them."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self, value_buckets: tuple[float, ...]) -> None:
        # The *_created series double /metrics and nothing here queries them.
        disable_created_metrics()
        self.registry = CollectorRegistry(auto_describe=True)
        reg = self.registry
        # prometheus_client appends "_total" to counters itself; pass the stem.
        self.requests = Counter(
            _stem(contract.REQUESTS_TOTAL),
            "HTTP requests by endpoint, method and status code",
            ("endpoint", "method", "status"),
            registry=reg,
        )
        self.latency = Histogram(
            contract.REQUEST_DURATION,
            "HTTP request latency in seconds, by endpoint",
            ("endpoint",),
            buckets=LATENCY_BUCKETS,
            registry=reg,
        )
        self.predictions = Counter(
            _stem(contract.PREDICTIONS_TOTAL),
            "Predictions served, by outcome (class label, or 'value' for regressors)",
            ("outcome",),
            registry=reg,
        )
        self.values = Histogram(
            contract.PREDICTION_VALUE,
            "Predicted probability of the positive class, or predicted value",
            buckets=value_buckets,
            registry=reg,
        )
        self.model_info = Gauge(
            contract.MODEL_INFO,
            "The model this replica serves (value is always 1)",
            ("model_name", "model_version", "run_id"),
            registry=reg,
        )
        self.model_loaded = Gauge(
            contract.MODEL_LOADED,
            "1 when the model is loaded and passed its self-test",
            registry=reg,
        )
        self.log_dropped = Counter(
            _stem(contract.PREDICTION_LOG_DROPPED),
            "Prediction-log rows not written, by reason (queue_full, write_failed)",
            ("reason",),
            registry=reg,
        )
        ProcessCollector(registry=reg)
        self.model_loaded.set(0)

    def set_model(self, name: str, version: str, run_id: str) -> None:
        self.model_info.clear()
        self.model_info.labels(model_name=name, model_version=version, run_id=run_id).set(1)
        self.model_loaded.set(1)

    def observe_predictions(self, outcomes: list[str], values: list[float]) -> None:
        # Count per distinct outcome once per batch: a 1,000-row batch costs a few
        # counter increments, not a thousand.
        counts: dict[str, int] = {}
        for outcome in outcomes:
            counts[outcome] = counts.get(outcome, 0) + 1
        for outcome, n in counts.items():
            self.predictions.labels(outcome=outcome).inc(n)
        observe = self.values.observe
        for value in values:
            observe(value)

    def count_log_drop(self, reason: str, rows: int) -> None:
        self.log_dropped.labels(reason=reason).inc(rows)

    def render(self) -> bytes:
        return generate_latest(self.registry)


def _stem(counter_name: str) -> str:
    return counter_name.removesuffix("_total")
