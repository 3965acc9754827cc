"""runner.slo: one definition read by the rules and the watch; the watch judges with it.

The PromQL side is proven by promtool (the rendered rule tests and
tests/integration/test_slo_equivalence.py); here: the Python arithmetic, that the rules and
the watch take their thresholds and expressions from runner.slo, and the real watch loop
over real /metrics texts served on 127.0.0.1.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from runner import slo
from runner.operations import watch
from runner.render.alert_rules import service_alerts
from runner.serving.metrics import ServiceMetrics
from runner.spec import load_platform
from runner.spec.models import ServiceSpec

ROOT = Path(__file__).resolve().parents[2]
INF = math.inf


@pytest.fixture(scope="module")
def spec() -> ServiceSpec:
    return load_platform(ROOT, "dev").services["bankchurn"]


def test_bucket_quantile_interpolates_like_prometheus() -> None:
    # 100 observations: 50 up to 1 s, 50 in (1, 2]: rank 99 is 49/50 into the second bucket.
    assert slo.bucket_quantile(0.99, [(1.0, 50), (2.0, 100), (INF, 100)]) == 1.0 + 49 / 50
    # The rank falls into +Inf: the highest finite bound.
    assert slo.bucket_quantile(0.99, [(1.0, 50), (2.0, 98), (INF, 100)]) == 2.0
    assert math.isnan(slo.bucket_quantile(0.99, [(1.0, 0), (INF, 0)]))
    assert math.isnan(slo.bucket_quantile(0.99, [(1.0, 5)]))  # no +Inf bucket
    # Non-monotonic sums (targets scraped at slightly different times) are flattened.
    assert slo.bucket_quantile(0.5, [(1.0, 60), (2.0, 50), (INF, 100)]) == 1.0 * (50 / 60)


def test_breached_is_at_or_above_and_never_on_nan() -> None:
    assert slo.breached(0.05, 0.05)
    assert not slo.breached(0.0499, 0.05)
    assert not slo.breached(math.nan, 0.0)


def test_rules_and_watch_read_the_same_definition(spec: ServiceSpec) -> None:
    rules = {(r.kind, r.severity): r for r in service_alerts(spec)}
    for kind in slo.WATCHED:
        rule = rules[(kind, "critical")]
        assert rule.expr == slo.condition(slo.expr(kind, spec), rule.threshold)
        assert f'endpoint=~"{slo.PREDICTION_ENDPOINTS}"' in rule.expr
    assert watch.limits(spec) == {
        "max_error_rate": rules[("error_rate", "critical")].threshold,
        "max_p99_s": rules[("latency_p99_s", "critical")].threshold,
    }
    changed = spec.model_copy(update={"alerts": spec.alerts.model_copy(update={
        "error_rate": spec.alerts.error_rate.model_copy(update={"critical": 0.2})})})
    assert watch.limits(changed)["max_error_rate"] == 0.2


def test_parse_reads_the_service_metrics_as_exported() -> None:
    metrics = ServiceMetrics((0.5, 1.0))
    metrics.requests.labels(endpoint="/predict", method="POST", status="500").inc(3)
    metrics.latency.labels(endpoint="/predict").observe(0.003)
    scrape = slo.parse(metrics.render().decode(), replica="a")
    key = (("endpoint", "/predict"), ("method", "POST"), ("replica", "a"), ("status", "500"))
    assert scrape.requests == {key: 3.0}
    assert len(scrape.buckets) == 14  # 13 bounds and +Inf
    before = slo.Scrape()
    assert slo.predictions(before, scrape) == 3
    assert slo.error_rate(before, scrape, 10.0) == 1.0
    assert 0.002 < slo.latency_p99(before, scrape, 10.0) <= 0.005


class _Replica:
    """A /metrics endpoint on 127.0.0.1 serving a list of texts, one per scrape (then the last)."""

    def __init__(self, texts: list[bytes]) -> None:
        texts = list(texts)

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                body = texts.pop(0) if len(texts) > 1 else texts[0]
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def serve() -> Iterator[list[_Replica]]:
    started: list[_Replica] = []
    yield started
    for replica in started:
        replica.server.shutdown()
        replica.server.server_close()


def _texts(errors: int, ok: int, *, health_errors: int = 0) -> list[bytes]:
    metrics = ServiceMetrics((0.5, 1.0))
    metrics.requests.labels(endpoint="/predict", method="POST", status="200").inc(10)
    before = metrics.render()
    metrics.requests.labels(endpoint="/predict", method="POST", status="200").inc(ok)
    metrics.requests.labels(endpoint="/predict", method="POST", status="500").inc(errors)
    metrics.requests.labels(endpoint="/health", method="GET", status="503").inc(health_errors)
    for _ in range(errors + ok):
        metrics.latency.labels(endpoint="/predict").observe(0.01)
    return [before, metrics.render()]


def _watch(serve: list[_Replica], spec: ServiceSpec, *texts: list[bytes]) -> tuple[bool, str]:
    serve.extend(_Replica(t) for t in texts)
    return watch.watch([r.port for r in serve], for_s=1.0, interval_s=0.1, **watch.limits(spec))


def test_watch_fails_at_the_critical_threshold(serve: list[_Replica], spec: ServiceSpec) -> None:
    ok, msg = _watch(serve, spec, _texts(5, 95))
    assert not ok
    assert msg.startswith("error rate too high after deploy: 100 requests, error rate 5.00% "
                          "(critical at 5.00%)")


def test_watch_passes_below_and_ignores_probes(serve: list[_Replica], spec: ServiceSpec) -> None:
    ok, msg = _watch(serve, spec, _texts(4, 96, health_errors=500))
    assert ok, msg
    assert msg.startswith("watched 1s: 100 requests, error rate 4.00%")


def test_watch_sums_replicas(serve: list[_Replica], spec: ServiceSpec) -> None:
    ok, msg = _watch(serve, spec, _texts(0, 50), _texts(5, 45))
    assert not ok and "100 requests, error rate 5.00%" in msg, msg
