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
from runner.render.alerts import CPU_WINDOW, MIB, RATE_WINDOW, AlertRule, fmt_num
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


@dataclass(frozen=True)
class Probe:
    """One input: its series (for a number of samples) and the value at each minute."""

    build: Callable[[int], list[Series]]
    value_at: Callable[[int], float | None]
    labels: dict[str, str]  # series labels that reach the alert (besides the rule's own)

    @property
    def steady(self) -> float:
        value = self.value_at(STEADY_MIN)
        assert value is not None
        return value


# Kinds whose alert keeps the series labels (no aggregation): their four scenarios share one
# promtool test group, told apart by the `instance` label. Aggregated kinds need a group each.
PER_SERIES_KINDS = ("cpu", "memory", "drift_share")


class _Probes:
    """Per-kind input generators for one service; ``case`` names the scenario's series."""

    def __init__(self, service: ServiceSpec) -> None:
        self.svc = service
        self.name = service.name

    def error_rate(self, errors: int, case: str) -> Probe:
        base = f'{contract.REQUESTS_TOTAL}{{service="{self.name}",endpoint="/predict",method="POST"'
        return Probe(
            lambda n: [
                Series(f'{base},status="200"}}', _ramp(REQUESTS_PER_MIN - errors, n)),
                Series(f'{base},status="500"}}', _ramp(errors, n)),
            ],
            lambda t: error_value(errors, t),
            {},
        )

    def latency(self, bound: float, case: str) -> Probe:
        # 2% of requests above `bound`: p99 falls into +Inf, so it is the bound itself.
        name = f"{contract.REQUEST_DURATION}_bucket"
        le = fmt_num(bound)
        return Probe(
            lambda n: [
                Series(f'{name}{{service="{self.name}",le="{le}"}}', _ramp(98, n)),
                Series(f'{name}{{service="{self.name}",le="+Inf"}}', _ramp(100, n)),
            ],
            lambda t: bound if t >= 1 else None,
            {},
        )

    def cpu(self, steps: int, case: str) -> Probe:
        sel = f'{contract.PROCESS_CPU}{{service="{self.name}",replica="0",instance="{case}"}}'
        value = cpu_value(steps, self.svc.resources.cpu)
        return Probe(
            lambda n: [Series(sel, _ramp(cpu_per_min(steps), n))],
            lambda t: value if t >= 1 else None,
            {"instance": case, "replica": "0", "service": self.name},
        )

    def memory(self, rss: int, case: str) -> Probe:
        sel = f'{contract.PROCESS_MEMORY}{{service="{self.name}",replica="0",instance="{case}"}}'
        value = memory_value(rss, self.svc.resources.memory_mb)
        return Probe(
            lambda n: [Series(sel, _flat(rss, n))],
            lambda t: value,
            {"instance": case, "replica": "0", "service": self.name},
        )

    def drift(self, share: float, case: str) -> Probe:
        sel = f'{contract.DRIFT_SHARE}{{service="{self.name}",instance="{case}"}}'
        return Probe(
            lambda n: [Series(sel, _flat(share, n))],
            lambda t: share,
            {"instance": case, "service": self.name},
        )


def _just_below(value: float) -> float | None:
    """A readable value slightly below ``value`` (0.1% lower), or None at zero."""
    if value <= 0:
        return None
    candidate = float(f"{value * 0.999:.6g}")
    return candidate if candidate < value else value / 2


def _targets(probes: _Probes, kind: str, rule: AlertRule) -> tuple[Probe | None, Probe | None]:
    """(probe at the rule's threshold, probe just below it)."""
    threshold = rule.threshold
    at_case, below_case = f"at-{rule.severity}", f"below-{rule.severity}"
    if kind in ("error_rate", "cpu", "memory"):
        res = probes.svc.resources
        at = grid_point(kind, threshold, res.cpu, res.memory_mb)
        if at is None:
            return None, None
        build = {"error_rate": probes.error_rate, "cpu": probes.cpu, "memory": probes.memory}[kind]
        return build(at, at_case), (build(at - 1, below_case) if at > 0 else None)
    below = _just_below(threshold)
    make = probes.latency if kind == "latency_p99_s" else probes.drift
    at_probe = make(threshold, at_case) if threshold > 0 or kind == "drift_share" else None
    return at_probe, (make(below, below_case) if below is not None else None)


def activation(probe: Probe, threshold: float, until: int) -> int | None:
    """Minute the condition became true and stayed true up to ``until`` (Prometheus activeAt)."""
    since = None
    for t in range(until + 1):
        value = probe.value_at(t)
        if value is not None and value >= threshold:
            since = t if since is None else since
        else:
            since = None
    return since


def _fires(probe: Probe, rule: AlertRule, for_s: int, at: int) -> bool:
    since = activation(probe, rule.threshold, at)
    return since is not None and (at - since) * EVAL_INTERVAL_S >= for_s


@dataclass(frozen=True)
class _Scenario:
    title: str
    probe: Probe
    checks: list[tuple[AlertRule, int]]  # (alert, minute) evaluations this scenario needs


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


def _scenarios(service: ServiceSpec, kind: str, rules: list[AlertRule]) -> list[_Scenario]:
    """At and just below each threshold of one kind, with the evaluations each needs."""
    for_s = getattr(service.alerts, kind).for_s
    hold = math.ceil(for_s / EVAL_INTERVAL_S)
    found = []
    for rule in rules:
        at, below = _targets(_Probes(service), kind, rule)
        for where, probe in (("at", at), ("below", below)):
            if probe is None:
                continue
            if where == "at":
                since = activation(probe, rule.threshold, STEADY_MIN + hold + 1)
                assert since is not None
                minute = since + hold  # the first evaluation that may fire
                checks = [(other, minute) for other in rules]
                if hold:
                    checks.append((rule, minute - 1))  # still pending one step earlier
            else:
                checks = [(other, STEADY_MIN + hold + 1) for other in rules]
            title = (
                f"{kind} {where} the {rule.severity} threshold {fmt_num(rule.threshold)}"
                f" (value {fmt_num(probe.steady)})"
            )
            found.append(_Scenario(title, probe, checks))
    return found


def _group(scenarios: list[_Scenario], for_s: int) -> TestGroup:
    """Scenarios sharing one group: every check lists what fires across all their series."""
    wanted: dict[tuple[str, int], AlertRule] = {}
    for scenario in scenarios:
        for rule, minute in scenario.checks:
            wanted.setdefault((rule.name, minute), rule)
    last = max(minute for _, minute in wanted)
    checks = [
        Check(
            alert=rule,
            eval_time=f"{minute}m",
            firing=[
                sorted({**sc.probe.labels, **rule.labels}.items())
                for sc in scenarios
                if _fires(sc.probe, rule, for_s, minute)
            ],
        )
        for (_, minute), rule in wanted.items()
    ]
    series = [s for sc in scenarios for s in sc.probe.build(last)]
    return TestGroup([sc.title for sc in scenarios], series, checks)


def service_test_groups(service: ServiceSpec, rules: list[AlertRule]) -> list[TestGroup]:
    """promtool test groups proving every alert of one service fires at and not below its
    threshold, and not before its ``for`` has passed."""
    groups: list[TestGroup] = []
    by_kind: dict[str, list[AlertRule]] = {}
    for rule in rules:
        by_kind.setdefault(rule.kind, []).append(rule)
    for kind, kind_rules in by_kind.items():
        for_s = getattr(service.alerts, kind).for_s
        scenarios = _scenarios(service, kind, kind_rules)
        if kind in PER_SERIES_KINDS:
            groups.append(_group(scenarios, for_s))
        else:
            groups += [_group([scenario], for_s) for scenario in scenarios]
    return groups
