"""The runner's own metrics, read from the state store and the drift gauge at scrape time.

A custom collector rather than long-lived Gauge objects: the values belong to other
processes (reconcile, the drift check), so reading them when Prometheus asks is the only
way they are never stale, and a restarted exporter has nothing to rebuild. Only names from
``runner.contract.RUNNER_METRICS`` appear here.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from runner import contract
from runner.monitor import audit_access as store
from runner.monitor import drift_gauge

# Applies take from a second (nothing to do) to minutes (a retrain-and-deploy).
APPLY_BUCKETS: tuple[float, ...] = (0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600)


class RunnerCollector(Collector):
    """Collects the runner's metrics for ``services`` (the platform's) from ``state``."""

    def __init__(self, services: Sequence[str], state: Path | None = None,
                 environment: str = "") -> None:
        self.services = list(services)
        self.state = state
        self.environment = environment
        # Reconcile history is folded in incrementally: only audit events newer than the
        # last scrape are read (the audit log is append-only, so nothing old changes).
        self._lock = threading.Lock()
        self._seen_id = 0
        self._last: store.ReconcileRun | None = None
        self._buckets = [0] * len(APPLY_BUCKETS)  # cumulative counts: d <= bound
        self._count = 0
        self._sum = 0.0

    def collect(self) -> Iterator[Metric]:
        yield self._drift()
        yield from self._revisions()
        yield from self._reconcile()
        yield self._sync()
        yield self._crashes()

    def _crashes(self) -> Metric:
        """Crash loops: the count, and held="true" once the service is no longer restarted."""
        family = GaugeMetricFamily(
            contract.SERVICE_CRASHES, "Consecutive crashes of the service at its current "
            "revision; held=true: not restarted until its spec changes or inv deploy.",
            labels=[contract.LABEL_SERVICE, "held"],
        )
        for name, (failures, held) in sorted(store.crashes(self.state).items()):
            family.add_metric([name, "true" if held else "false"], float(failures))
        return family

    def _sync(self) -> Metric:
        """The pull loop's status per environment (``runner.state.sync_log``)."""
        family = GaugeMetricFamily(
            contract.SYNC_INFO, "1 on the environment's sync status: last synced and "
            "refused commit (inv reconcile --git).",
            labels=["environment", "status", "synced_commit", "refused_commit"],
        )
        for sync in store.sync_states(self.state, self.environment):
            family.add_metric([sync.environment, sync.status, sync.synced_commit,
                               sync.refused_commit], 1.0)
        return family

    def _drift(self) -> Metric:
        family = GaugeMetricFamily(
            contract.DRIFT_SHARE,
            "Share of drifted feature columns at the last drift check (NaN: never measured).",
            labels=[contract.LABEL_SERVICE],
        )
        measured = drift_gauge.get_all(state=self.state)
        # A platform service that was never measured is exported as NaN, so the series
        # exists (dashboards and the metric cross-check find it) but no threshold matches.
        for name in sorted(set(self.services) | set(measured)):
            family.add_metric([name], measured.get(name, math.nan))
        return family

    def _revisions(self) -> Iterable[Metric]:
        revision = GaugeMetricFamily(
            contract.SERVICE_REVISION,
            "Revision number of the service's current successful deploy.",
            labels=[contract.LABEL_SERVICE],
        )
        version = GaugeMetricFamily(
            contract.SERVICE_MODEL_VERSION,
            "Registry model version the service's current revision serves.",
            labels=[contract.LABEL_SERVICE],
        )
        for name, dep in sorted(store.deployed(self.state).items()):
            revision.add_metric([name], dep.revision)
            version.add_metric([name], dep.model_version)
        return (revision, version)

    def _reconcile(self) -> Iterable[Metric]:
        with self._lock:
            runs, self._seen_id = store.reconcile_runs(self.state, self._seen_id)
            if runs:
                self._last = runs[-1]
            for run in runs:
                if run.duration_s is None:
                    continue
                self._count += 1
                self._sum += run.duration_s
                for i, bound in enumerate(APPLY_BUCKETS):
                    self._buckets[i] += run.duration_s <= bound
            last = self._last
            histogram = self._histogram()
        out: list[Metric] = []
        if last is not None:
            stamp = GaugeMetricFamily(
                contract.LAST_RECONCILE_TIMESTAMP, "Unix time the last reconcile finished."
            )
            stamp.add_metric([], last.at)
            ok = GaugeMetricFamily(
                contract.LAST_RECONCILE_SUCCESS, "1 if the last reconcile succeeded, else 0."
            )
            ok.add_metric([], 1.0 if last.success else 0.0)
            out += [stamp, ok]
        out.append(histogram)
        return out

    def _histogram(self) -> Metric:
        """Cumulative buckets over every recorded apply: monotonic, as Prometheus expects."""
        buckets = [(_le(b), n) for b, n in zip(APPLY_BUCKETS, self._buckets, strict=True)]
        buckets.append(("+Inf", self._count))
        return HistogramMetricFamily(
            contract.APPLY_DURATION, "Wall time of reconcile applies.",
            buckets=buckets, sum_value=self._sum,
        )


def _le(bound: float) -> str:
    return repr(float(bound))

