"""promtool unit-test cases derived from the same thresholds as the alert rules.

For each threshold kind four input scenarios are generated: the value at the warning
threshold, just below it, at the critical threshold, and just below it. Each scenario asserts
the state of BOTH alerts of that kind, so every alert is proven to fire at its threshold and
to stay silent below it. An at-threshold scenario is evaluated at the first instant the alert
may fire (activation + ``for``) and one evaluation earlier, where it must still be pending, so
a changed ``for`` fails the tests too.

"At the threshold" is exact, not approximate: the value Prometheus computes from the input is
reproduced here with the same float operations Prometheus 2.x uses (``extrapolatedRate``:
``delta * ((extrapolated / sampled) / range)``; with samples on the window edges, or a
counter starting at zero, the extrapolation ratio is exactly 1), and the smallest input whose
result is ``>= threshold`` is chosen. If Prometheus ever disagrees, the tests fail.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

from runner import contract
from runner.render.alert_rules import AlertRule
from runner.slo import CPU_WINDOW, MIB, RATE_WINDOW, fmt_num
from runner.spec.models import ServiceSpec

EVAL_INTERVAL_S = 60  # promtool evaluation_interval and input series interval
REQUESTS_PER_MIN = 10_000  # error-rate resolution: 1/10000
CPU_STEPS_PER_S = 1024  # CPU counter steps are k/1024 s: dyadic, so sums stay exact
WINDOW_MIN = {"5m": 5, "1m": 1}
STEADY_MIN = 5  # every kind's value is constant from here on (longest window: 5m)


@dataclass(frozen=True)
class Series:
    series: str  # 'metric{label="v"}'
    values: str  # promtool expanding notation


def _num(value: float | int) -> str:
    return fmt_num(value) if isinstance(value, float) else str(value)


def _ramp(step: float | int, samples: int) -> str:
    """Counter from 0 growing by ``step`` per interval: '0+<step>x<samples>'."""
    return f"0+{_num(step)}x{samples}"


def _flat(value: float | int, samples: int) -> str:
    return f"{_num(value)}+0x{samples}"


def _rate(delta: float, window_min: int) -> float:
    """Prometheus' rate for a counter with aligned samples or starting at 0: factor is 1."""
    window_s = float(window_min * 60)
    sampled = float(min(window_min, STEADY_MIN) * 60)
    return delta * ((sampled / sampled) / window_s)


# --- the value Prometheus computes at minute t from each kind's input ---------------------


@lru_cache(maxsize=65536)
def error_value(errors: int, t: int = STEADY_MIN) -> float | None:
    """sum(rate(5xx)) / sum(rate(all)) with REQUESTS_PER_MIN requests a minute, ``errors`` 5xx."""
    if t < 1:
        return None  # one sample: no rate yet
    minutes = min(t, WINDOW_MIN[RATE_WINDOW])
    bad = _rate(float(minutes * errors), WINDOW_MIN[RATE_WINDOW])
    good = _rate(float(minutes * (REQUESTS_PER_MIN - errors)), WINDOW_MIN[RATE_WINDOW])
    return bad / (good + bad)


def cpu_per_min(steps: int) -> float:
    return steps * 60 / CPU_STEPS_PER_S  # CPU seconds per minute, exact (dyadic)


def cpu_value(steps: int, cpu: float) -> float:
    return _rate(cpu_per_min(steps), WINDOW_MIN[CPU_WINDOW]) / float(fmt_num(cpu))


def memory_value(rss: int, memory_mb: int) -> float:
    return rss / float(memory_mb * MIB)


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
        return _search(lambda e: error_value(e) or 0.0, threshold, guess, REQUESTS_PER_MIN)
    if kind == "cpu":
        guess = math.ceil(threshold * cpu * CPU_STEPS_PER_S)
        return _search(lambda k: cpu_value(k, cpu), threshold, guess, 2 * guess + 8)
    if kind == "memory":
        guess = math.ceil(threshold * memory_mb * MIB)
        return _search(lambda v: memory_value(v, memory_mb), threshold, guess, 2 * guess + 8)
    raise ValueError(kind)


# Kinds whose alert keeps the series labels (no aggregation): their four scenarios share one
# promtool test group, told apart by the `instance` label. Aggregated kinds need a group each.
PER_SERIES_KINDS = ("cpu", "memory", "drift_share")
SEVERITIES = ("warning", "critical")


@dataclass(frozen=True)
class Input:
    """One scenario's input, independent of the service's name."""

    kind: str
    param: float  # errors a minute, latency bound, CPU steps, RSS bytes or drift share
    case: str  # at-warning, below-warning, at-critical, below-critical


def value_at(inp: Input, t: int, cpu: float, memory_mb: int) -> float | None:
    """The value Prometheus computes at minute ``t`` from this input (None: no value yet)."""
    if inp.kind == "error_rate":
        return error_value(int(inp.param), t)
    if inp.kind == "latency_p99_s":
        # 2% of requests above the bound: p99 falls into +Inf, so it is the bound itself.
        return inp.param if t >= 1 else None
    if inp.kind == "cpu":
        return cpu_value(int(inp.param), cpu) if t >= 1 else None
    if inp.kind == "memory":
        return memory_value(int(inp.param), memory_mb)
    return inp.param


def series_for(inp: Input, name: str, samples: int) -> list[Series]:
    """The promtool input series for this input, for service ``name``."""
    # Probes and scrapes ride along with every request scenario: a failing /health and a
    # slow /metrics. The thresholds are met exactly only if neither counts (runner.slo).
    if inp.kind == "error_rate":
        errors = int(inp.param)
        base = f'{contract.REQUESTS_TOTAL}{{service="{name}",endpoint="/predict",method="POST"'
        probe = f'{contract.REQUESTS_TOTAL}{{service="{name}",endpoint="/health",method="GET"'
        return [
            Series(f'{base},status="200"}}', _ramp(REQUESTS_PER_MIN - errors, samples)),
            Series(f'{base},status="500"}}', _ramp(errors, samples)),
            Series(f'{probe},status="503"}}', _ramp(REQUESTS_PER_MIN, samples)),
        ]
    if inp.kind == "latency_p99_s":
        bucket = f'{contract.REQUEST_DURATION}_bucket{{service="{name}",endpoint="/predict",le='
        scrape = f'{contract.REQUEST_DURATION}_bucket{{service="{name}",endpoint="/metrics",le='
        return [
            Series(f'{bucket}"{fmt_num(inp.param)}"}}', _ramp(98, samples)),
            Series(f'{bucket}"+Inf"}}', _ramp(100, samples)),
            Series(f'{scrape}"+Inf"}}', _ramp(100, samples)),
        ]
    if inp.kind == "cpu":
        sel = f'{contract.PROCESS_CPU}{{service="{name}",replica="0",instance="{inp.case}"}}'
        return [Series(sel, _ramp(cpu_per_min(int(inp.param)), samples))]
    if inp.kind == "memory":
        sel = f'{contract.PROCESS_MEMORY}{{service="{name}",replica="0",instance="{inp.case}"}}'
        return [Series(sel, _flat(int(inp.param), samples))]
    sel = f'{contract.DRIFT_SHARE}{{service="{name}",instance="{inp.case}"}}'
    return [Series(sel, _flat(inp.param, samples))]


def series_labels(inp: Input, name: str) -> dict[str, str]:
    """Labels of the input series that survive into the alert (aggregations drop them all)."""
    if inp.kind in ("cpu", "memory"):
        return {"instance": inp.case, "replica": "0", "service": name}
    if inp.kind == "drift_share":
        return {"instance": inp.case, "service": name}
    return {}


def _just_below(value: float) -> float | None:
    """A readable value slightly below ``value`` (0.1% lower), or None at zero."""
    if value <= 0:
        return None
    candidate = float(f"{value * 0.999:.6g}")
    return candidate if candidate < value else value / 2


def _targets(
    kind: str, severity: str, threshold: float, cpu: float, memory_mb: int
) -> tuple[Input | None, Input | None]:
    """(input at the threshold, input just below it)."""
    at_case, below_case = f"at-{severity}", f"below-{severity}"
    if kind in ("error_rate", "cpu", "memory"):
        at = grid_point(kind, threshold, cpu, memory_mb)
        if at is None:
            return None, None
        below = Input(kind, at - 1, below_case) if at > 0 else None
        return Input(kind, at, at_case), below
    under = _just_below(threshold)
    reachable = threshold > 0 or kind == "drift_share"  # p99 of 0 s cannot be produced
    return (
        Input(kind, threshold, at_case) if reachable else None,
        Input(kind, under, below_case) if under is not None else None,
    )


def activation(inp: Input, threshold: float, until: int, cpu: float, memory_mb: int) -> int | None:
    """Minute the condition became true and stayed true up to ``until`` (Prometheus activeAt)."""
    since = None
    # Values are constant from STEADY_MIN on, so the state there is the state at `until`.
    for t in range(min(until, STEADY_MIN) + 1):
        value = value_at(inp, t, cpu, memory_mb)
        if value is not None and value >= threshold:
            since = t if since is None else since
        else:
            since = None
    return since


@dataclass(frozen=True)
class PlannedCheck:
    severity: str
    minute: int
    firing: tuple[str, ...]  # cases whose alert is firing at that minute


@dataclass(frozen=True)
class PlannedGroup:
    scenarios: tuple[tuple[str, Input], ...]  # (comment, input)
    checks: tuple[PlannedCheck, ...]
    samples: int


@lru_cache(maxsize=1024)
def plan(
    kind: str, warning: float, critical: float, for_s: int, cpu: float, memory_mb: int
) -> tuple[PlannedGroup, ...]:
    """The numbers of one kind's test groups; cached, since fleets share threshold tables."""
    thresholds = {"warning": warning, "critical": critical}
    hold = math.ceil(for_s / EVAL_INTERVAL_S)
    steady_check = STEADY_MIN + hold + 1
    scenarios: list[tuple[str, Input, list[tuple[str, int]]]] = []
    for severity in SEVERITIES:
        threshold = thresholds[severity]
        at, below = _targets(kind, severity, threshold, cpu, memory_mb)
        for where, inp in (("at", at), ("below", below)):
            if inp is None:
                continue
            if where == "at":
                since = activation(inp, threshold, steady_check, cpu, memory_mb)
                assert since is not None
                minute = since + hold  # the first evaluation that may fire
                checks = [(other, minute) for other in SEVERITIES]
                if hold:
                    checks.append((severity, minute - 1))  # still pending one step earlier
            else:
                checks = [(other, steady_check) for other in SEVERITIES]
            steady = value_at(inp, STEADY_MIN, cpu, memory_mb)
            title = (
                f"{kind} {where} the {severity} threshold {fmt_num(threshold)}"
                f" (value {fmt_num(steady or 0.0)})"
            )
            scenarios.append((title, inp, checks))
    batches = [scenarios] if kind in PER_SERIES_KINDS else [[one] for one in scenarios]
    groups = []
    for batch in batches:
        wanted = list(dict.fromkeys(check for _, _, checks in batch for check in checks))

        def fires(inp: Input, severity: str, minute: int) -> bool:
            since = activation(inp, thresholds[severity], minute, cpu, memory_mb)
            return since is not None and (minute - since) * EVAL_INTERVAL_S >= for_s

        planned = tuple(
            PlannedCheck(sev, minute, tuple(i.case for _, i, _ in batch if fires(i, sev, minute)))
            for sev, minute in wanted
        )
        samples = max(minute for _, minute in wanted)
        groups.append(PlannedGroup(tuple((t, i) for t, i, _ in batch), planned, samples))
    return tuple(groups)


@dataclass(frozen=True)
class Check:
    """One promtool alert_rule_test: the alerts expected firing at one time."""

    alert: AlertRule
    eval_time: str
    firing: list[list[tuple[str, str]]]  # label sets (sorted pairs), one per firing alert


@dataclass(frozen=True)
class TestGroup:
    """One promtool test group: input series and the checks evaluated against them."""

    titles: list[str]
    input_series: list[Series]
    checks: list[Check]


def service_test_groups(service: ServiceSpec, rules: list[AlertRule]) -> list[TestGroup]:
    """promtool test groups proving every alert of one service fires at and not below its
    threshold, and not before its ``for`` has passed."""
    by_kind: dict[str, dict[str, AlertRule]] = {}
    for rule in rules:
        by_kind.setdefault(rule.kind, {})[rule.severity] = rule
    name, res = service.name, service.resources
    groups: list[TestGroup] = []
    for kind, by_severity in by_kind.items():
        for_s = getattr(service.alerts, kind).for_s
        warning, critical = by_severity["warning"], by_severity["critical"]
        for planned in plan(
            kind, warning.threshold, critical.threshold, for_s, res.cpu, res.memory_mb
        ):
            inputs = {inp.case: inp for _, inp in planned.scenarios}
            series = [
                s for _, inp in planned.scenarios for s in series_for(inp, name, planned.samples)
            ]
            checks = []
            for item in planned.checks:
                rule = by_severity[item.severity]
                firing = [
                    sorted({**series_labels(inputs[case], name), **rule.labels}.items())
                    for case in item.firing
                ]
                checks.append(Check(rule, f"{item.minute}m", firing))
            groups.append(TestGroup([t for t, _ in planned.scenarios], series, checks))
    return groups
