"""The service-level numbers, each defined once: as PromQL for the rules, in Python for the watch.

The Prometheus alert rules (``runner.render.alert_rules``, proven by ``alert_tests``) and the
post-deploy watch (``runner.operations.watch``, reading two /metrics scrapes of each replica)
judge the same numbers the same way. Both read these definitions:

- **Which requests count: predictions only** (``endpoint`` matching ``PREDICTION_ENDPOINTS``,
  that is ``/predict`` and ``/predict_batch``). They are what users see. Prometheus scrapes
  ``/metrics`` and the runtime probes ``/health`` every few seconds on every replica: counted
  with predictions, a quiet service's error rate would be diluted by hundreds of scrape
  successes, and a replica answering ``/health`` with 503 while its model loads would count
  as a user-facing failure. Unknown paths (``other``) are scanners, not users.
- **Which status is an error:** any 5xx (``ERROR_STATUS``), 503 included: a prediction a user
  could not get is a failure whatever the reason. 4xx are the client's mistakes.
- **The window:** ``RATE_WINDOW`` for the rules; the watch's window is the time since its
  first scrape (a deploy is younger than five minutes).
- **The comparison:** ``>=`` (``COMPARISON``): an alert fires *at* its threshold and is
  silent just below it, as the promtool tests prove. NaN (no requests) never breaches.

The Python evaluation reproduces PromQL's arithmetic (``rate`` per series, then ``sum``,
then the ratio; ``histogram_quantile``'s bucket interpolation), so the same counters give
the same verdict on both sides; ``tests/integration/test_slo_equivalence.py`` proves it with
promtool. One known difference: a series that appears between two scrapes counts from zero
here, while Prometheus cannot see the increase before the series' first sample.

Imports only ``runner.contract``: render and reconcile both depend on this module.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from runner import contract

if TYPE_CHECKING:
    from runner.spec.models import ServiceSpec

PREDICTION_ENDPOINTS = "/predict|/predict_batch"  # a PromQL (RE2) regex, fully anchored
ERROR_STATUS = "5.."
QUANTILE = 0.99
COMPARISON = ">="
RATE_WINDOW = "5m"  # error rate and latency
CPU_WINDOW = "1m"  # CPU reacts faster
MIB = 1024 * 1024
WATCHED = ("error_rate", "latency_p99_s")  # the numbers the post-deploy watch judges too

Labels = tuple[tuple[str, str], ...]


def fmt_num(value: float) -> str:
    """Shortest text that parses back to the same float (Go and Python agree): 2.0 -> '2'."""
    text = repr(float(value))
    return text[:-2] if text.endswith(".0") else text


def threshold(service: ServiceSpec, kind: str, severity: str) -> float:
    """The spec's threshold of ``kind`` at ``severity`` (the rules and the watch read this)."""
    return float(getattr(getattr(service.alerts, kind), severity))


def breached(value: float, limit: float) -> bool:
    """The rules' comparison in Python: ``value >= limit``; NaN (nothing to judge) is False."""
    return value >= limit  # NaN compares False, as PromQL drops NaN from a comparison


def condition(expr: str, limit: float) -> str:
    """The alert condition in PromQL: ``<expr> >= <limit>``."""
    return f"{expr} {COMPARISON} {fmt_num(limit)}"


# --- PromQL ---------------------------------------------------------------------------


def _requests(service: str, *, errors: bool) -> str:
    status = f',status=~"{ERROR_STATUS}"' if errors else ""
    sel = f'{{service="{service}",endpoint=~"{PREDICTION_ENDPOINTS}"{status}}}'
    return f"sum(rate({contract.REQUESTS_TOTAL}{sel}[{RATE_WINDOW}]))"


def expr(kind: str, service: ServiceSpec) -> str:
    """The PromQL whose value is compared with ``kind``'s thresholds for ``service``."""
    name = service.name
    sel = f'{{service="{name}"}}'
    if kind == "error_rate":
        return f"{_requests(name, errors=True)} / {_requests(name, errors=False)}"
    if kind == "latency_p99_s":
        buckets = f'{{service="{name}",endpoint=~"{PREDICTION_ENDPOINTS}"}}'
        return (
            f"histogram_quantile({fmt_num(QUANTILE)}, sum by (le) "
            f"(rate({contract.REQUEST_DURATION}_bucket{buckets}[{RATE_WINDOW}])))"
        )
    if kind == "cpu":
        return f"rate({contract.PROCESS_CPU}{sel}[{CPU_WINDOW}]) / {fmt_num(service.resources.cpu)}"
    if kind == "memory":
        return f"{contract.PROCESS_MEMORY}{sel} / ({service.resources.memory_mb} * 1024 * 1024)"
    if kind == "drift_share":
        return f"{contract.DRIFT_SHARE}{sel}"
    raise ValueError(f"unknown alert kind {kind}")


# --- Python, over two /metrics scrapes --------------------------------------------------


@dataclass(frozen=True)
class Scrape:
    """Request counter and latency bucket samples of one or more replicas at one instant."""

    requests: dict[Labels, float] = field(default_factory=dict)  # {endpoint, method, status}
    buckets: dict[Labels, float] = field(default_factory=dict)  # {endpoint, le}


def parse(text: str, **extra: str) -> Scrape:
    """The samples the numbers read from one /metrics text; ``extra`` labels tell replicas
    apart (as Prometheus' ``replica`` target label does)."""
    from prometheus_client.parser import text_string_to_metric_families

    requests: dict[Labels, float] = {}
    buckets: dict[Labels, float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            labels = tuple(sorted({**s.labels, **extra}.items()))
            if s.name == contract.REQUESTS_TOTAL:
                requests[labels] = s.value
            elif s.name == f"{contract.REQUEST_DURATION}_bucket":
                buckets[labels] = s.value
    return Scrape(requests, buckets)


def merge(scrapes: Iterable[Scrape]) -> Scrape:
    """One scrape of several replicas (their labels must differ, see ``parse``)."""
    out = Scrape()
    for one in scrapes:
        out.requests.update(one.requests)
        out.buckets.update(one.buckets)
    return out


def _rates(before: dict[Labels, float], after: dict[Labels, float], seconds: float,
           **match: str) -> dict[Labels, float]:
    """Per-series ``rate`` of the series matching ``match`` (label -> anchored regex)."""
    out = {}
    for labels, value in after.items():
        got = dict(labels)
        if all(re.fullmatch(rx, got.get(k, "")) for k, rx in match.items()):
            prior = before.get(labels, 0.0)
            delta = value - prior if value >= prior else value  # a reset: counted from zero
            out[labels] = delta / seconds
    return out


def predictions(before: Scrape, after: Scrape) -> float:
    """How many prediction requests the replicas answered between the two scrapes."""
    return sum(_rates(before.requests, after.requests, 1.0, endpoint=PREDICTION_ENDPOINTS).values())


def error_rate(before: Scrape, after: Scrape, seconds: float) -> float:
    """``sum(rate(errors)) / sum(rate(predictions))`` between two scrapes (NaN: none)."""
    bad = _rates(before.requests, after.requests, seconds,
                 endpoint=PREDICTION_ENDPOINTS, status=ERROR_STATUS)
    every = _rates(before.requests, after.requests, seconds, endpoint=PREDICTION_ENDPOINTS)
    total = sum(every.values())
    if not bad or not total:  # no error series yet: PromQL's sum is empty, so is its ratio
        return math.nan
    return sum(bad.values()) / total


def latency_p99(before: Scrape, after: Scrape, seconds: float) -> float:
    """``histogram_quantile(0.99, sum by (le) (rate(buckets)))`` between two scrapes."""
    by_le: dict[float, float] = {}
    for labels, rate in _rates(before.buckets, after.buckets, seconds,
                               endpoint=PREDICTION_ENDPOINTS).items():
        le = float(dict(labels)["le"])
        by_le[le] = by_le.get(le, 0.0) + rate
    return bucket_quantile(QUANTILE, sorted(by_le.items()))


def bucket_quantile(q: float, buckets: list[tuple[float, float]]) -> float:
    """Prometheus 2.x ``bucketQuantile``: linear interpolation inside the bucket holding
    rank ``q * count``; the second-highest bound when the rank falls into +Inf."""
    if not buckets or not math.isinf(buckets[-1][0]):
        return math.nan
    counts, highest = [], 0.0
    for _, count in buckets:  # ensureMonotonic: scrapes of several targets may disagree
        highest = max(highest, count)
        counts.append(highest)
    if len(buckets) < 2 or counts[-1] == 0:
        return math.nan
    rank = q * counts[-1]
    b = next((i for i in range(len(buckets) - 1) if counts[i] >= rank), len(buckets) - 1)
    if b == len(buckets) - 1:
        return buckets[-2][0]
    if b == 0 and buckets[0][0] <= 0:
        return buckets[0][0]
    start, end, count = 0.0, buckets[b][0], counts[b]
    if b > 0:
        start = buckets[b - 1][0]
        count -= counts[b - 1]
        rank -= counts[b - 1]
    return start + (end - start) * (rank / count)


def value(kind: str, before: Scrape, after: Scrape, seconds: float) -> float:
    """The watched number ``kind`` between two scrapes ``seconds`` apart."""
    if kind == "error_rate":
        return error_rate(before, after, seconds)
    if kind == "latency_p99_s":
        return latency_p99(before, after, seconds)
    raise ValueError(f"the watch does not judge {kind}")
