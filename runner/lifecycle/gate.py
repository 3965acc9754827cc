"""The champion/challenger gate: may a retrained candidate replace the serving model?

Pure Python on the two metric dicts measured on the same held-out rows, so it is a table
test. Rules, from the service spec's ``gate``:

1. the primary metric meets ``min`` (at least, or at most when lower is better);
2. it does not regress beyond ``max_regression`` against the champion (an absolute
   tolerance in the metric's own unit: 0.01 ROC AUC);
3. no guardrail metric drops by more than ``guardrail_max_drop`` of the champion's value
   (relative: 0.05 = 5%; for error metrics, "drops" means grows).

Without a champion (first model, or its version missing from the registry) only rule 1
applies, and the decision says so.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from runner.spec.models import GateSpec

LOWER_IS_BETTER = frozenset({"rmse", "mae", "mape", "logloss", "log_loss"})


@dataclass
class Decision:
    passed: bool
    reasons: list[str]  # why it failed (empty when it passed)
    checks: list[str]  # every rule applied, passed or not, for the commit message
    candidate: dict[str, float]
    champion: dict[str, float] | None
    deltas: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def summary(self) -> str:
        if self.passed:
            return "gate passed: " + "; ".join(self.checks)
        return "gate rejected: " + "; ".join(self.reasons)


def evaluate(gate: GateSpec, candidate: dict[str, float],
             champion: dict[str, float] | None) -> Decision:
    """Apply the gate; every failed rule is a reason (the first is not the only one)."""
    metric = gate.metric
    if metric not in candidate:
        return Decision(False, [f"candidate has no {metric} metric"], [], candidate, champion)
    higher = gate.greater_is_better
    value = candidate[metric]
    reasons: list[str] = []
    checks: list[str] = []

    meets = value >= gate.min if higher else value <= gate.min
    rule = f"{metric} {value:.4f} {'>=' if higher else '<='} min {gate.min:g}"
    checks.append(rule if meets else rule.replace(">=", "<").replace("<=", ">"))
    if not meets:
        reasons.append(f"{metric} {value:.4f} does not meet the minimum {gate.min:g}")

    deltas: dict[str, float] = {}
    if champion is None or metric not in champion:
        checks.append("no champion to compare with")
    else:
        best = champion[metric]
        delta = value - best if higher else best - value  # > 0: candidate better
        deltas[metric] = round(value - best, 6)
        ok = delta >= -gate.max_regression - 1e-12
        checks.append(f"{metric} {value:.4f} vs champion {best:.4f} ({value - best:+.4f}, "
                      f"tolerance {gate.max_regression:g})")
        if not ok:
            reasons.append(f"{metric} regressed {abs(delta):.4f} vs champion {best:.4f} "
                           f"(candidate {value:.4f}, tolerance {gate.max_regression:g})")
        for name in gate.guardrails:
            if name not in candidate or name not in champion:
                reasons.append(f"guardrail {name} missing from the "
                               f"{'candidate' if name not in candidate else 'champion'} metrics")
                continue
            new, old = candidate[name], champion[name]
            deltas[name] = round(new - old, 6)
            worse = (new - old) if name in LOWER_IS_BETTER else (old - new)
            drop = worse / abs(old) if old else (1.0 if worse > 0 else 0.0)
            checks.append(f"guardrail {name} {new:.4f} vs {old:.4f} ({-drop:+.1%})")
            if drop > gate.guardrail_max_drop + 1e-12:
                reasons.append(f"guardrail {name} dropped {drop:.1%} vs champion ({old:.4f} -> "
                               f"{new:.4f}, at most {gate.guardrail_max_drop:.0%} allowed)")
    return Decision(not reasons, reasons, checks, candidate, champion, deltas)
