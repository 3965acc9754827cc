"""The champion/challenger gate as a table: metrics (with intervals) in, decision out.

The first table uses exact values (zero-width intervals), where the interval rules reduce
to the plain tolerances; the second gives intervals and checks the three verdicts.
"""

from __future__ import annotations

import pytest

from runner.lifecycle.gate import Interval, evaluate, exact
from runner.lifecycle.paired import Comparison
from runner.spec.models import GateSpec

GATE = GateSpec(metric="roc_auc", min=0.85, max_regression=0.01, guardrails=["f1"],
                guardrail_max_drop=0.05)
CHAMP = {"roc_auc": 0.88, "f1": 0.60}

CASES = [
    # (candidate, champion, passed, words in the reasons)
    ({"roc_auc": 0.90, "f1": 0.62}, CHAMP, True, []),
    ({"roc_auc": 0.875, "f1": 0.60}, CHAMP, True, []),  # within the 0.01 tolerance
    ({"roc_auc": 0.869, "f1": 0.60}, CHAMP, False, ["-0.0110 [-0.0110, -0.0110]",
                                                    "beyond 0.01 is not ruled out"]),
    ({"roc_auc": 0.84, "f1": 0.60}, None, False, ["does not meet the minimum 0.85"]),
    ({"roc_auc": 0.86, "f1": 0.10}, None, True, []),  # no champion: only the minimum
    ({"roc_auc": 0.89, "f1": 0.56}, CHAMP, False, ["guardrail f1 may have dropped 6.7%"]),
    ({"roc_auc": 0.89, "f1": 0.571}, CHAMP, True, []),  # 4.8% drop is allowed
    ({"roc_auc": 0.50, "f1": 0.20}, CHAMP, False, ["minimum", "not ruled out",
                                                   "guardrail f1"]),
    ({"f1": 0.9}, CHAMP, False, ["no roc_auc metric"]),
    ({"roc_auc": 0.9}, CHAMP, False, ["guardrail f1 missing from the candidate"]),
]


@pytest.mark.parametrize(("candidate", "champion", "passed", "words"), CASES)
def test_gate_table(candidate: dict, champion: dict | None, passed: bool,
                    words: list[str]) -> None:
    decision = evaluate(GATE, exact(candidate, champion))
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
    assert evaluate(gate, exact({"mape": 0.305, "rmse": 2050.0}, champ)).passed
    worse = evaluate(gate, exact({"mape": 0.32, "rmse": 2200.0}, champ))
    assert not worse.passed
    assert any("mape difference +0.0200" in r for r in worse.reasons), worse.reasons
    assert any("guardrail rmse may have dropped 10.0%" in r for r in worse.reasons)
    assert not evaluate(gate, exact({"mape": 0.51, "rmse": 1.0}, None)).passed


def test_comparison_is_recorded() -> None:
    decision = evaluate(GATE, exact({"roc_auc": 0.89, "f1": 0.61}, CHAMP))
    assert decision.deltas == {"roc_auc": pytest.approx(0.01), "f1": pytest.approx(0.01)}
    assert any("vs champion 0.8800" in c for c in decision.checks)


def _with(diff: tuple[float, float, float], *, f1: tuple[float, float, float] = (0, -.01, .01),
          level: float = 0.95) -> Comparison:
    """A comparison where the candidate's roc_auc differs from 0.88 by ``diff``."""
    champ = {"roc_auc": Interval(0.88, 0.87, 0.89), "f1": Interval(0.60, 0.58, 0.62)}
    cand = {"roc_auc": Interval(0.88 + diff[0], 0.87 + diff[0], 0.89 + diff[0]),
            "f1": Interval(0.60 + f1[0], 0.58 + f1[0], 0.62 + f1[0])}
    return Comparison(cand, champ, {"roc_auc": Interval(*diff), "f1": Interval(*f1)}, level,
                      2000, 2000, 42, "paired stratified bootstrap of the held-out predictions")


INTERVALS = [
    # (difference of roc_auc (value, low, high), promote_when, outcome, verdict)
    ((0.012, 0.004, 0.020), "not_worse", "promote", "better"),
    ((0.001, -0.004, 0.006), "not_worse", "promote", "equivalent"),
    ((0.001, -0.004, 0.006), "better", "hold", "equivalent"),
    ((0.012, 0.004, 0.020), "better", "promote", "better"),
    ((-0.002, -0.011, 0.007), "not_worse", "reject", "worse"),  # point fine, bound not
    ((-0.030, -0.042, -0.019), "not_worse", "reject", "worse"),
    ((0.000, -0.010, 0.010), "not_worse", "promote", "equivalent"),  # bound == tolerance
    # significant but smaller than the margin: not "better" (two trainings differ so)
    ((0.006, 0.002, 0.010), "better", "hold", "equivalent"),
    ((0.010, 0.002, 0.018), "better", "promote", "better"),  # difference == margin
]


@pytest.mark.parametrize(("diff", "when", "outcome", "verdict"), INTERVALS)
def test_interval_rule(diff: tuple[float, float, float], when: str, outcome: str,
                       verdict: str) -> None:
    gate = GATE.model_copy(update={"promote_when": when})
    decision = evaluate(gate, _with(diff))
    assert (decision.outcome, decision.verdict) == (outcome, verdict), decision.checks
    assert decision.passed is (outcome == "promote")
    assert decision.summary.startswith(f"gate {decision.word}")


def test_reject_says_why_and_how_sure() -> None:
    wide = evaluate(GATE, _with((0.0, -0.03, 0.03)))
    assert wide.outcome == "reject"
    assert "inconclusive" in wide.reasons[0] and "more held-out rows" in wide.reasons[0]
    assert "+0.0000 [-0.0300, +0.0300] (95%)" in wide.reasons[0]
    worse = evaluate(GATE, _with((-0.03, -0.042, -0.019)))
    assert "worse: the whole interval is below 0" in worse.reasons[0]


def test_guardrail_uses_its_lower_bound() -> None:
    # f1 point +0.005, but the bound -0.035 is below 5% of 0.60 (0.03): rejected.
    decision = evaluate(GATE, _with((0.01, 0.002, 0.018), f1=(0.005, -0.035, 0.045)))
    assert decision.outcome == "reject" and decision.verdict == "better"
    assert decision.reasons == [r for r in decision.reasons if r.startswith("guardrail f1")]
    assert "dropped 5.8%" in decision.reasons[0]
    ok = evaluate(GATE, _with((0.01, 0.002, 0.018), f1=(0.005, -0.025, 0.035)))
    assert ok.passed and "-0.0250 >= -0.0300 (5% of 0.6000)" in ok.guardrails[0]


def test_block_and_tags() -> None:
    decision = evaluate(GATE, _with((-0.002, -0.011, 0.007)))
    block = decision.block("gate for bankchurn-model: candidate vs champion v1")
    lines = block.splitlines()
    assert lines[0] == "gate for bankchurn-model: candidate vs champion v1"
    want = {
        "metric": "roc_auc (higher is better), 2,000 held-out rows, 95% intervals",
        "candidate": "0.8780 [0.8680, 0.8880]",
        "champion": "0.8800 [0.8700, 0.8900]",
        "difference": "-0.0020 [-0.0110, +0.0070] (candidate - champion, same rows)",
        "verdict": "worse: a regression beyond 0.01 (the tolerance) is not ruled out",
        "method": "paired stratified bootstrap of the held-out predictions, 2000 resamples, "
                  "seed 42",
    }
    rows = {line.split()[0]: line.split(None, 1)[1] for line in lines[1:]}
    for key, value in want.items():
        assert rows[key] == value, (key, block)
    assert rows["rule"].startswith("promote when the lower bound of the roc_auc difference "
                                   "(candidate - champion) >= -0.01 (gate.max_regression) "
                                   "at 95% confidence")
    assert rows["decision"].startswith("REJECT: roc_auc difference -0.0020")
    assert rows["guardrail"].startswith("f1 0.6000 vs 0.6000: difference +0.0000")
    tags = decision.tags()
    assert tags["gate.decision"] == "rejected" and tags["gate.verdict"] == "worse"
    assert tags["gate.candidate.roc_auc"] == "0.8780 [0.8680, 0.8880]"
    assert tags["gate.champion.roc_auc"] == "0.8800 [0.8700, 0.8900]"
    assert tags["gate.difference.roc_auc"] == "-0.0020 [-0.0110, +0.0070]"
    assert tags["gate.difference.f1"] == "+0.0000 [-0.0100, +0.0100]"
    assert (tags["gate.seed"], tags["gate.level"], tags["gate.rows"]) == ("42", "0.95", "2000")
    assert tags["gate.report"] == decision.block()
    assert tags["gate.rule"] == rows["rule"]
    assert all(isinstance(v, str) and len(v) <= 4000 for v in tags.values())


def test_first_model_block() -> None:
    decision = evaluate(GATE, exact({"roc_auc": 0.9, "f1": 0.6}, None))
    assert decision.outcome == "promote" and decision.verdict == "no champion"
    block = decision.block()
    rows = {line.split()[0]: line.split(None, 1)[1] for line in block.splitlines()}
    assert rows["champion"] == "none to compare with"
    assert "difference" not in rows
    assert "gate.champion.roc_auc" not in decision.tags()


def test_spec_bounds_the_level() -> None:
    from pydantic import ValidationError

    for bad in (0.0, 1.0, 1.5, -0.1):
        with pytest.raises(ValidationError):
            GateSpec(metric="roc_auc", min=0.8, confidence=bad)
    assert GateSpec(metric="roc_auc", min=0.8).confidence == 0.95
    with pytest.raises(ValidationError):
        GateSpec(metric="roc_auc", min=0.8, promote_when="sometimes")


def test_undefined_difference_is_not_a_pass() -> None:
    gate = GateSpec(metric="mape", min=0.5, max_regression=0.01, greater_is_better=False)
    nan = float("nan")
    comp = Comparison({"mape": Interval(nan, nan, nan)}, {"mape": Interval(0.3, 0.28, 0.32)},
                      {"mape": Interval(nan, nan, nan)}, 0.95, 10, 100, 0, "test")
    decision = evaluate(gate, comp)
    assert decision.outcome == "reject"
    assert any("undefined on these rows" in r for r in decision.reasons), decision.reasons
