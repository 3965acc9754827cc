"""The champion/challenger gate: may a retrained candidate replace the serving model?

Input is a :class:`runner.lifecycle.paired.Comparison`: both models' metrics on the same
held-out rows with confidence intervals, and the paired candidate-minus-champion
difference with its interval (level ``gate.confidence``). Rules, from the spec's ``gate``:

1. the candidate's primary metric meets ``min`` (on its value over all held-out rows:
   the floor is a sanity bound with no champion to compare with, so a first model on a
   small data set is not failed by its own interval);
2. against the champion, the LOWER bound of the difference (turned so that positive is
   better) must be at least ``-max_regression``: the candidate is promoted only when a
   regression beyond the tolerance is ruled out at the stated confidence;
3. the same for every guardrail, with ``guardrail_max_drop`` of the champion's value
   (relative: 0.05 = 5%) as the tolerance.

The primary comparison has one of three verdicts, with ``max_regression`` as the margin
below which a difference does not matter, on both sides:

- ``worse``: a regression beyond the margin is not ruled out (lower bound < -margin);
- ``better``: better beyond doubt (lower bound > 0) AND by at least the margin (the
  difference itself >= margin). The bootstrap measures which rows were held out, not
  how much two trainings of the same configuration differ; two such models genuinely
  differ a little on the population, and on 2,000 rows that shows as "significant"
  about one time in ten. Requiring the margin keeps those out of ``better``;
- ``equivalent``: the rest (not worse beyond the margin, not shown better by it).

Outcomes: ``reject`` when any rule fails; ``promote`` when the verdict is better, or
equivalent with ``promote_when: not_worse`` (the default: a fresher model that is no
worse replaces the older one); ``hold`` when it is equivalent and ``promote_when:
better`` (nothing wrong, nothing gained: the champion keeps serving without a deploy).

Without a champion (first model, or its version missing from the registry) only rule 1
applies, and the decision says so.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from runner.lifecycle.paired import Comparison, Interval, improvement
from runner.spec.models import GateSpec

LOWER_IS_BETTER = frozenset({"rmse", "mae", "mape", "logloss", "log_loss"})
EPS = 1e-12  # float noise on a bound that equals the tolerance exactly


@dataclass
class Decision:
    outcome: str  # promote | hold | reject
    verdict: str  # better | equivalent | worse | no champion | no metric
    reasons: list[str]  # why it was rejected (empty otherwise)
    checks: list[str]  # every rule applied, passed or not, for the commit message
    rule: str
    metric: str
    greater_is_better: bool
    comparison: Comparison
    guardrails: list[str] = field(default_factory=list)  # one line per guardrail
    guardrail_names: list[str] = field(default_factory=list)
    comparison_tolerance: float = 0.0  # gate.max_regression, for the report

    @property
    def passed(self) -> bool:
        return self.outcome == "promote"

    @property
    def candidate(self) -> dict[str, float]:
        return self.comparison.points("candidate") or {}

    @property
    def champion(self) -> dict[str, float] | None:
        return self.comparison.points("champion")

    @property
    def deltas(self) -> dict[str, float]:
        keep = {self.metric, *self.guardrail_names}
        return {k: round(v.value, 6) for k, v in self.comparison.difference.items()
                if k in keep}

    @property
    def word(self) -> str:
        return {"promote": "passed", "hold": "held", "reject": "rejected"}[self.outcome]

    @property
    def summary(self) -> str:
        return f"gate {self.word}: " + "; ".join(self.reasons if self.reasons else self.checks)

    def as_dict(self) -> dict[str, Any]:
        return {"outcome": self.outcome, "passed": self.passed, "verdict": self.verdict,
                "reasons": self.reasons, "checks": self.checks, "rule": self.rule,
                "metric": self.metric, "comparison": self.comparison.as_dict()}

    def block(self, title: str = "") -> str:
        """The decision as one readable block (printed, committed, stored as a tag)."""
        from runner.lifecycle.gate_report import decision_block

        return decision_block(self, title)

    def tags(self) -> dict[str, str]:
        """The decision as registry tags on the candidate's version."""
        from runner.lifecycle.gate_report import decision_tags

        return decision_tags(self)


def _tolerance_rule(gate: GateSpec) -> str:
    return (f"promote when the lower bound of the {gate.metric} difference (candidate - "
            f"champion{', negated' if not gate.greater_is_better else ''}) >= "
            f"-{gate.max_regression:g} (gate.max_regression) at "
            f"{gate.confidence * 100:g}% confidence; candidate {gate.metric} "
            f"{'>=' if gate.greater_is_better else '<='} {gate.min:g} (gate.min)"
            + (f"; guardrails {', '.join(gate.guardrails)} lower bound >= "
               f"-{gate.guardrail_max_drop:.0%} of the champion's value"
               if gate.guardrails else "")
            + ("; an equivalent candidate is held (promote_when: better)"
               if gate.promote_when == "better" else ""))


def evaluate(gate: GateSpec, comparison: Comparison) -> Decision:
    """Apply the gate; every failed rule is a reason (the first is not the only one)."""
    metric, higher = gate.metric, gate.greater_is_better
    rule = _tolerance_rule(gate)
    cand = comparison.candidate
    if metric not in cand:
        return Decision("reject", "no metric", [f"candidate has no {metric} metric"], [], rule,
                        metric, higher, comparison)
    value = cand[metric]
    reasons: list[str] = []
    checks: list[str] = []
    pct = f"{comparison.level * 100:g}%"

    meets = value.value >= gate.min if higher else value.value <= gate.min
    sign = (">=" if meets else "<") if higher else ("<=" if meets else ">")
    checks.append(f"{metric} {value.value:.4f} {sign} min {gate.min:g}")
    if not meets:
        reasons.append(f"{metric} {value.value:.4f} does not meet the minimum {gate.min:g}")

    champ = comparison.champion
    if champ is None or metric not in champ or metric not in comparison.difference:
        checks.append("no champion to compare with")
        outcome = "reject" if reasons else "promote"
        return Decision(outcome, "no champion", reasons, checks, rule, metric, higher,
                        comparison, comparison_tolerance=gate.max_regression)

    diff = comparison.difference[metric]
    up = improvement(metric, diff, higher)
    if not math.isfinite(up.low):  # e.g. MAPE with no row above its floor
        reasons.append(f"{metric} difference is undefined on these rows ({diff.text()})")
        verdict = "worse"
    elif up.low < -gate.max_regression - EPS:
        verdict = "worse"
    elif up.low > EPS and up.value >= gate.max_regression - EPS:
        verdict = "better"
    else:
        verdict = "equivalent"
    checks.append(f"{metric} {value.value:.4f} vs champion {champ[metric].value:.4f}: "
                  f"difference {diff.text(signed=True)} ({pct}), lower bound "
                  f"{up.low:+.4f} {'>=' if verdict != 'worse' else '<'} "
                  f"-{gate.max_regression:g}: {verdict}")
    if verdict == "worse" and math.isfinite(up.low):
        if up.high < 0:
            what = "worse: the whole interval is below 0"
        elif up.high - up.low > 2 * gate.max_regression:
            what = "inconclusive: the interval is wider than the tolerance allows; more " \
                   "held-out rows would narrow it"
        else:
            what = "possibly worse"
        reasons.append(f"{metric} difference {diff.text(signed=True)} ({pct}) vs champion "
                       f"{champ[metric].value:.4f}: a regression beyond "
                       f"{gate.max_regression:g} is not ruled out ({what})")

    lines = []
    for name in gate.guardrails:
        if name not in cand or name not in champ:
            reasons.append(f"guardrail {name} missing from the "
                           f"{'candidate' if name not in cand else 'champion'} metrics")
            continue
        old = champ[name].value
        gdiff = comparison.difference[name]
        gup = improvement(name, gdiff, name not in LOWER_IS_BETTER)
        tol = gate.guardrail_max_drop * abs(old)
        ok = math.isfinite(gup.low) and gup.low >= -tol - EPS
        line = (f"guardrail {name} {cand[name].value:.4f} vs {old:.4f}: difference "
                f"{gdiff.text(signed=True)}, lower bound {gup.low:+.4f} "
                f"{'>=' if ok else '<'} -{tol:.4f} ({gate.guardrail_max_drop:.0%} of "
                f"{old:.4f})")
        lines.append(line)
        checks.append(line)
        if not ok:
            rel = -gup.low / abs(old) if old else 1.0
            reasons.append(f"guardrail {name} may have dropped {rel:.1%} vs champion "
                           f"({old:.4f} -> {cand[name].value:.4f}, difference "
                           f"{gdiff.text(signed=True)} at {pct}; at most "
                           f"{gate.guardrail_max_drop:.0%} allowed)")

    if reasons:
        outcome = "reject"
    elif verdict == "equivalent" and gate.promote_when == "better":
        outcome = "hold"
        checks.append("equivalent, not better: held (promote_when: better)")
    else:
        outcome = "promote"
    return Decision(outcome, verdict, reasons, checks, rule, metric, higher, comparison,
                    lines, list(gate.guardrails), gate.max_regression)


def exact(candidate: dict[str, float], champion: dict[str, float] | None) -> Comparison:
    """Known values, zero-width intervals: the rules as a table (see the unit tests)."""
    return Comparison.exact(candidate, champion)


__all__ = ["LOWER_IS_BETTER", "Decision", "Interval", "evaluate", "exact"]
