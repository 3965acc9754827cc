"""Post-deploy watch: error rate and p99 latency of a service against its spec thresholds.

Reads each live replica's /metrics on its admin port (the metric contract in
``runner.contract``) at the start and then once a second, and judges the difference:
a Prometheus query would lag a scrape interval behind, and Prometheus may not run at all.
Fails as soon as a critical threshold is crossed (with enough requests to judge).
"""

from __future__ import annotations

import http.client
import math
import time
from collections import defaultdict
from dataclasses import dataclass

from runner.contract import REQUEST_DURATION, REQUESTS_TOTAL

MIN_REQUESTS = 20  # fewer requests than this in the window: too few to judge a rate


@dataclass
class Sample:
    total: float = 0.0
    errors: float = 0.0
    buckets: dict[float, float] | None = None


def scrape(port: int) -> Sample:
    """Request and latency counters of one replica (summed over endpoints)."""
    from prometheus_client.parser import text_string_to_metric_families

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        conn.request("GET", "/metrics")
        text = conn.getresponse().read().decode()
    except (OSError, http.client.HTTPException):
        return Sample()
    finally:
        conn.close()
    out = Sample(buckets=defaultdict(float))
    assert out.buckets is not None
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == f"{REQUESTS_TOTAL}" or s.name == f"{REQUESTS_TOTAL}_total":
                if s.labels.get("endpoint", "").startswith(("/predict",)):
                    out.total += s.value
                    if str(s.labels.get("status", "")).startswith("5"):
                        out.errors += s.value
            elif s.name == f"{REQUEST_DURATION}_bucket":
                if s.labels.get("endpoint", "").startswith("/predict"):
                    out.buckets[float(s.labels["le"])] += s.value
    return out


def p99(before: dict[float, float], after: dict[float, float]) -> float:
    """The 0.99 quantile of the requests between two histogram snapshots (bucket bound)."""
    delta = sorted((le, after.get(le, 0.0) - before.get(le, 0.0)) for le in after)
    if not delta or delta[-1][1] <= 0:
        return 0.0
    target = 0.99 * delta[-1][1]
    for le, count in delta:
        if count >= target:
            return le if not math.isinf(le) else delta[-2][0] if len(delta) > 1 else 0.0
    return 0.0


def watch(
    ports: list[int],
    *,
    for_s: float,
    max_error_rate: float,
    max_p99_s: float,
    interval_s: float = 1.0,
) -> tuple[bool, str]:
    """Watch replicas for ``for_s`` seconds; (ok, the sentence that says why)."""
    start = {p: scrape(p) for p in ports}
    deadline = time.monotonic() + for_s
    verdict = "no traffic to judge"
    while True:
        time.sleep(max(0.0, min(interval_s, deadline - time.monotonic())))
        now = {p: scrape(p) for p in ports}
        total = sum(now[p].total - start[p].total for p in ports)
        errors = sum(now[p].errors - start[p].errors for p in ports)
        before: dict[float, float] = defaultdict(float)
        after: dict[float, float] = defaultdict(float)
        for p in ports:
            for le, v in (start[p].buckets or {}).items():
                before[le] += v
            for le, v in (now[p].buckets or {}).items():
                after[le] += v
        latency = p99(before, after)
        if total >= MIN_REQUESTS:
            rate = errors / total
            verdict = (f"{int(total)} requests, error rate {rate:.2%} (max {max_error_rate:.2%}),"
                       f" p99 {latency:.3f}s (max {max_p99_s:g}s)")
            if rate > max_error_rate:
                return False, f"error rate too high after deploy: {verdict}"
            if latency > max_p99_s:
                return False, f"latency too high after deploy: {verdict}"
        elif total:
            verdict = f"only {int(total)} requests, too few to judge"
        if time.monotonic() >= deadline:
            return True, f"watched {for_s:g}s: {verdict}"
