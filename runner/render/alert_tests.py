"""promtool unit-test cases derived from the same thresholds as the alert rules.

For each threshold kind four input scenarios are generated: the value exactly at (or at the
first representable step above) the warning threshold, just below it, at the critical
threshold, and just below it. Each scenario asserts the firing state of BOTH alerts of that
kind, so every alert is proven to fire at its threshold and to stay silent below it.

"At the threshold" is exact, not approximate: the scenario's value is computed here with the
same float operations Prometheus 2.x performs (rate over an aligned window with samples on
both edges extrapolates by a factor of exactly 1), and the smallest input whose result is
``>= threshold`` is chosen. The test then fails if Prometheus ever disagrees.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

from runner import contract
from runner.render.alerts import CPU_WINDOW, MIB, RATE_WINDOW, AlertRule, fmt_num
from runner.spec.models import ServiceSpec

EVAL_INTERVAL_S = 60  # promtool evaluation_interval and input series interval
REQUESTS_PER_MIN = 10_000  # error-rate resolution: 1/10000
CPU_STEPS_PER_S = 1024  # CPU counter steps are k/1024 s: dyadic, so sums stay exact
WINDOW_S = {"5m": 300, "1m": 60}


@dataclass(frozen=True)
class Series:
    series: str  # 'metric{label="v"}'
    values: str  # promtool expanding notation


@dataclass(frozen=True)
class Expectation:
    alert: AlertRule
    labels: list[tuple[str, str]]  # full label set expected on the firing alert, sorted
    fires: bool


@dataclass(frozen=True)
class Scenario:
    title: str
    input_series: list[Series]
    eval_time: str
    expectations: list[Expectation]


# A probe turns a target into input series and the value Prometheus will compute from them.
Probe = tuple[list[Series], float, dict[str, str]]


def _ramp(step: float | int, samples: int) -> str:
    """Counter growing by ``step`` per interval: '0+<step>x<samples>'."""
    return f"0+{fmt_num(step) if isinstance(step, float) else step}x{samples}"


def _flat(value: float | int, samples: int) -> str:
    return f"{fmt_num(value) if isinstance(value, float) else value}+0x{samples}"


def _smallest(lo: int, hi: int, ok: Callable[[int], bool]) -> int | None:
    """Smallest integer n in [lo, hi] with ok(n) (ok is monotone), or None."""
    if not ok(hi):
        return None
    while lo < hi:
        mid = (lo + hi) // 2
        if ok(mid):
            hi = mid
        else:
            lo = mid + 1
    return lo


def _rate(delta: float, window_s: int) -> float:
    # Prometheus extrapolatedRate with samples on both window edges: delta * 1.0 / range.
    return delta * (float(window_s) / float(window_s)) / float(window_s)


# --- the value Prometheus computes from each kind's input (integer grid -> float) ---------


def error_value(errors: int) -> float:
    """Error rate from REQUESTS_PER_MIN requests a minute, ``errors`` of them 5xx."""
    win = WINDOW_S[RATE_WINDOW]
    per_window = win // EVAL_INTERVAL_S
    bad = _rate(float(errors * per_window), win)
    good = _rate(float((REQUESTS_PER_MIN - errors) * per_window), win)
    return bad / (good + bad)


def cpu_per_min(steps: int) -> float:
    return steps * 60 / CPU_STEPS_PER_S  # CPU seconds per minute, exact (dyadic)


def cpu_value(steps: int, cpu: float) -> float:
    return _rate(cpu_per_min(steps), WINDOW_S[CPU_WINDOW]) / float(fmt_num(cpu))


def memory_value(rss: int, memory_mb: int) -> float:
    return rss / float(memory_mb * MIB)


def _search(value: Callable[[int], float], threshold: float, guess: int, hi: int) -> int | None:
    """Smallest grid point whose value reaches the threshold: look near the guess first."""
    lo = max(0, guess - 2)
    found = _smallest(lo, min(hi, lo + 6), lambda n: value(n) >= threshold)
    if found is not None and (found > lo or lo == 0):
        return found
    return _smallest(0, hi, lambda n: value(n) >= threshold)


@lru_cache(maxsize=4096)
def grid_point(kind: str, threshold: float, cpu: float, memory_mb: int) -> int | None:
    """The integer input at the threshold (None: unreachable). Cached: fleets share thresholds."""
    if kind == "error_rate":
        guess = math.ceil(threshold * REQUESTS_PER_MIN)
        return _search(error_value, threshold, guess, REQUESTS_PER_MIN)
    if kind == "cpu":
        guess = math.ceil(threshold * cpu * CPU_STEPS_PER_S)
        return _search(lambda k: cpu_value(k, cpu), threshold, guess, 2 * guess + 8)
    if kind == "memory":
        guess = math.ceil(threshold * memory_mb * MIB)
        return _search(lambda v: memory_value(v, memory_mb), threshold, guess, 2 * guess + 8)
    raise ValueError(kind)


class _Probes:
    """Per-kind input series for one service, at a given number of samples."""

    def __init__(self, service: ServiceSpec, samples: int) -> None:
        self.svc = service
        self.n = samples
        self.name = service.name

    def error_rate(self, errors: int) -> Probe:
        total = REQUESTS_PER_MIN
        base = f'{contract.REQUESTS_TOTAL}{{service="{self.name}",endpoint="/predict",method="POST"'
        series = [
            Series(f'{base},status="200"}}', _ramp(total - errors, self.n)),
            Series(f'{base},status="500"}}', _ramp(errors, self.n)),
        ]
        return series, error_value(errors), {}

    def latency(self, bound: float) -> Probe:
        # 2% of requests above `bound`: p99 falls into +Inf, so it is the bound itself.
        name = f"{contract.REQUEST_DURATION}_bucket"
        series = [
            Series(f'{name}{{service="{self.name}",le="{fmt_num(bound)}"}}', _ramp(98, self.n)),
            Series(f'{name}{{service="{self.name}",le="+Inf"}}', _ramp(100, self.n)),
        ]
        return series, bound, {}

    def cpu(self, steps: int) -> Probe:
        labels = {"replica": "0", "service": self.name}
        sel = f'{contract.PROCESS_CPU}{{service="{self.name}",replica="0"}}'
        series = [Series(sel, _ramp(cpu_per_min(steps), self.n))]
        return series, cpu_value(steps, self.svc.resources.cpu), labels

    def memory(self, rss: int) -> Probe:
        labels = {"replica": "0", "service": self.name}
        sel = f'{contract.PROCESS_MEMORY}{{service="{self.name}",replica="0"}}'
        series = [Series(sel, _flat(rss, self.n))]
        return series, memory_value(rss, self.svc.resources.memory_mb), labels

    def drift(self, share: float) -> Probe:
        sel = f'{contract.DRIFT_SHARE}{{service="{self.name}"}}'
        return [Series(sel, _flat(share, self.n))], share, {"service": self.name}


def _just_below(value: float) -> float | None:
    """A readable value slightly below ``value`` (0.1% lower), or None at zero."""
    if value <= 0:
        return None
    candidate = float(f"{value * 0.999:.6g}")
    return candidate if candidate < value else value / 2


def _targets(probes: _Probes, kind: str, threshold: float) -> tuple[Probe | None, Probe | None]:
    """(probe at the threshold, probe just below it) for one kind."""
    if kind in ("error_rate", "cpu", "memory"):
        res = probes.svc.resources
        at = grid_point(kind, threshold, res.cpu, res.memory_mb)
        if at is None:
            return None, None
        build = {"error_rate": probes.error_rate, "cpu": probes.cpu, "memory": probes.memory}[kind]
        return build(at), (build(at - 1) if at > 0 else None)
    below = _just_below(threshold)
    if kind == "latency_p99_s":
        at_probe = probes.latency(threshold) if threshold > 0 else None
        return at_probe, (probes.latency(below) if below is not None else None)
    return probes.drift(threshold), (probes.drift(below) if below is not None else None)


def service_scenarios(service: ServiceSpec, rules: list[AlertRule]) -> list[Scenario]:
    """Firing and silent scenarios for every alert of one service."""
    scenarios: list[Scenario] = []
    by_kind: dict[str, list[AlertRule]] = {}
    for rule in rules:
        by_kind.setdefault(rule.kind, []).append(rule)
    for kind, kind_rules in by_kind.items():
        for_s = getattr(service.alerts, kind).for_s
        # Steady state from the 5m window onwards, then the `for` hold, then one more step.
        minutes = 5 + math.ceil(for_s / 60) + 1
        probes = _Probes(service, minutes)
        for rule in kind_rules:
            at, below = _targets(probes, kind, rule.threshold)
            for where, probe in (("at", at), ("below", below)):
                if probe is None:
                    continue
                series, value, extra = probe
                expectations = [
                    Expectation(
                        alert=other,
                        labels=sorted({**extra, **other.labels}.items()),
                        fires=value >= other.threshold,
                    )
                    for other in kind_rules
                ]
                scenarios.append(
                    Scenario(
                        title=f"{kind} {where} the {rule.severity} threshold "
                        f"{fmt_num(rule.threshold)} (value {fmt_num(value)})",
                        input_series=series,
                        eval_time=f"{minutes}m",
                        expectations=expectations,
                    )
                )
    return scenarios
