"""The gate's decision as people read it: one text block, and the same facts as registry
tags on the candidate's version (``gate.*``), so the registry, ``inv history`` (through
the retrain event) and a later reader can see why a model was or was not promoted.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from runner.lifecycle.gate import Decision

TAG_LIMIT = 4000  # MLflow keeps tag values up to 8,000 characters; leave room


def _direction(decision: Decision) -> str:
    return "higher is better" if decision.greater_is_better else "lower is better"


def _explain(decision: Decision) -> str:
    tol = f"{decision.comparison_tolerance:g}"
    return decision.verdict + {
        "better": f": the whole interval is above 0 and the difference at least {tol}",
        "equivalent": f": no regression beyond {tol} (the tolerance), not better by {tol}",
        "worse": f": a regression beyond {tol} (the tolerance) is not ruled out",
        "no champion": ": only the minimum applies",
    }.get(decision.verdict, "")


def decision_block(decision: Decision, title: str = "") -> str:
    """Metric, both values with intervals, the paired difference, the rule, the seed."""
    comp = decision.comparison
    metric = decision.metric
    pct = f"{comp.level * 100:g}%"
    rows = [("metric", f"{metric} ({_direction(decision)}), {comp.rows:,} held-out rows, "
                       f"{pct} intervals")]
    cand = comp.candidate.get(metric)
    rows.append(("candidate", cand.text() if cand else "-"))
    champ = (comp.champion or {}).get(metric)
    rows.append(("champion", champ.text() if champ else "none to compare with"))
    diff = comp.difference.get(metric)
    if diff is not None:
        rows.append(("difference", f"{diff.text(signed=True)} (candidate - champion, "
                                   "same rows)"))
    rows.append(("verdict", _explain(decision)))
    rows.extend(("guardrail", line.removeprefix("guardrail ")) for line in decision.guardrails)
    rows.append(("rule", decision.rule))
    if comp.resamples:
        rows.append(("method", f"{comp.method}, {comp.resamples} resamples, seed {comp.seed}"))
    else:
        rows.append(("method", comp.method))
    rows.append(("decision", decision.outcome.upper() + (
        ": " + "; ".join(decision.reasons) if decision.reasons else "")))
    width = max(len(k) for k, _ in rows) + 2
    head = [title] if title else []
    return "\n".join(head + [f"  {k:<{width}}{v}" for k, v in rows])


def decision_tags(decision: Decision) -> dict[str, str]:
    comp = decision.comparison
    metric = decision.metric
    tags = {
        "gate.decision": decision.word,
        "gate.verdict": decision.verdict,
        "gate.metric": metric,
        "gate.rule": decision.rule[:TAG_LIMIT],
        "gate.level": f"{comp.level:g}",
        "gate.seed": str(comp.seed),
        "gate.resamples": str(comp.resamples),
        "gate.rows": str(comp.rows),
        "gate.method": comp.method,
        "gate.reasons": "; ".join(decision.reasons)[:TAG_LIMIT] or "-",
        "gate.report": decision_block(decision)[:TAG_LIMIT],
        "gate.comparison": json.dumps(
            {"candidate": decision.candidate, "champion": decision.champion},
            sort_keys=True)[:TAG_LIMIT],
    }
    if metric in comp.candidate:
        tags[f"gate.candidate.{metric}"] = comp.candidate[metric].text()
    if comp.champion and metric in comp.champion:
        tags[f"gate.champion.{metric}"] = comp.champion[metric].text()
    for name in [metric, *decision.guardrail_names]:
        if name in comp.difference:
            tags[f"gate.difference.{name}"] = comp.difference[name].text(signed=True)
    return tags
