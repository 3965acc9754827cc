"""Post-deploy watch: error rate and p99 latency of a service against its spec thresholds.

Reads each live replica's /metrics on its admin port at the start and then once a second,
and judges the difference with the definitions the alert rules use (``runner.slo``: which
requests count, which are errors, ``>=``): a Prometheus query would lag a scrape interval
behind, and Prometheus may not run at all. Fails as soon as a critical threshold is
reached (with enough requests to judge).
"""

from __future__ import annotations

import http.client
import math
import time

from runner import slo
from runner.spec.models import ServiceSpec

MIN_REQUESTS = 20  # fewer requests than this in the window: too few to judge a rate


def scrape(port: int) -> slo.Scrape:
    """The counters ``runner.slo`` reads, from one replica (empty when it does not answer)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        conn.request("GET", "/metrics")
        text = conn.getresponse().read().decode()
    except (OSError, http.client.HTTPException):
        return slo.Scrape()
    finally:
        conn.close()
    return slo.parse(text, replica=str(port))


def limits(service: ServiceSpec) -> dict[str, float]:
    """The watch's limits: the critical thresholds, as the critical alert rules use them."""
    return {"max_error_rate": slo.threshold(service, "error_rate", "critical"),
            "max_p99_s": slo.threshold(service, "latency_p99_s", "critical")}


def watch(
    ports: list[int],
    *,
    for_s: float,
    max_error_rate: float,
    max_p99_s: float,
    interval_s: float = 1.0,
) -> tuple[bool, str]:
    """Watch replicas for ``for_s`` seconds; (ok, the sentence that says why)."""
    start, began = slo.merge(scrape(p) for p in ports), time.monotonic()
    deadline = began + for_s
    verdict = "no traffic to judge"
    while True:
        time.sleep(max(0.0, min(interval_s, deadline - time.monotonic())))
        now = slo.merge(scrape(p) for p in ports)
        seconds = max(time.monotonic() - began, 1e-3)
        total = slo.predictions(start, now)
        rate = slo.error_rate(start, now, seconds)
        latency = slo.latency_p99(start, now, seconds)
        if total >= MIN_REQUESTS:
            shown_rate, shown_p99 = (0.0 if math.isnan(v) else v for v in (rate, latency))
            verdict = (f"{int(total)} requests, error rate {shown_rate:.2%} (critical at "
                       f"{max_error_rate:.2%}), p99 {shown_p99:.3f}s (critical at {max_p99_s:g}s)")
            if slo.breached(rate, max_error_rate):
                return False, f"error rate too high after deploy: {verdict}"
            if slo.breached(latency, max_p99_s):
                return False, f"latency too high after deploy: {verdict}"
        elif total:
            verdict = f"only {int(total)} requests, too few to judge"
        if time.monotonic() >= deadline:
            return True, f"watched {for_s:g}s: {verdict}"
