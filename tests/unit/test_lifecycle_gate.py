"""The champion/challenger gate as a table: metrics in, decision and reasons out."""

from __future__ import annotations

import pytest

from runner.lifecycle.gate import evaluate
from runner.spec.models import GateSpec

GATE = GateSpec(metric="roc_auc", min=0.85, max_regression=0.01, guardrails=["f1"],
                guardrail_max_drop=0.05)
CHAMP = {"roc_auc": 0.88, "f1": 0.60}

CASES = [
    # (candidate, champion, passed, words in the reasons)
    ({"roc_auc": 0.90, "f1": 0.62}, CHAMP, True, []),
    ({"roc_auc": 0.875, "f1": 0.60}, CHAMP, True, []),  # within the 0.01 tolerance
    ({"roc_auc": 0.869, "f1": 0.60}, CHAMP, False, ["regressed 0.0110"]),
    ({"roc_auc": 0.84, "f1": 0.60}, None, False, ["does not meet the minimum 0.85"]),
    ({"roc_auc": 0.86, "f1": 0.10}, None, True, []),  # no champion: only the minimum
    ({"roc_auc": 0.89, "f1": 0.56}, CHAMP, False, ["guardrail f1 dropped 6.7%"]),
    ({"roc_auc": 0.89, "f1": 0.571}, CHAMP, True, []),  # 4.8% drop is allowed
    ({"roc_auc": 0.50, "f1": 0.20}, CHAMP, False, ["minimum", "regressed", "guardrail f1"]),
    ({"f1": 0.9}, CHAMP, False, ["no roc_auc metric"]),
    ({"roc_auc": 0.9}, CHAMP, False, ["guardrail f1 missing from the candidate"]),
]


@pytest.mark.parametrize(("candidate", "champion", "passed", "words"), CASES)
def test_gate_table(candidate: dict, champion: dict | None, passed: bool,
                    words: list[str]) -> None:
    decision = evaluate(GATE, candidate, champion)
    assert decision.passed is passed, decision.reasons
    text = "; ".join(decision.reasons)
    for word in words:
        assert word in text, text
    assert bool(decision.reasons) is (not passed)
    assert decision.summary.startswith("gate passed" if passed else "gate rejected")


def test_lower_is_better_metric_and_guardrail() -> None:
    gate = GateSpec(metric="mape", min=0.5, max_regression=0.01, greater_is_better=False,
                    guardrails=["rmse"], guardrail_max_drop=0.05)
    champ = {"mape": 0.30, "rmse": 2000.0}
    assert evaluate(gate, {"mape": 0.305, "rmse": 2050.0}, champ).passed
    worse = evaluate(gate, {"mape": 0.32, "rmse": 2200.0}, champ)
    assert not worse.passed
    assert any("regressed 0.0200" in r for r in worse.reasons)
    assert any("guardrail rmse dropped 10.0%" in r for r in worse.reasons)
    assert not evaluate(gate, {"mape": 0.51, "rmse": 1.0}, None).passed


def test_comparison_is_recorded() -> None:
    decision = evaluate(GATE, {"roc_auc": 0.89, "f1": 0.61}, CHAMP)
    assert decision.deltas == {"roc_auc": pytest.approx(0.01), "f1": pytest.approx(0.01)}
    assert any("vs champion 0.8800" in c for c in decision.checks)
