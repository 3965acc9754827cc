"""The drift decision: our numpy/scipy tests give Evidently's per-column verdicts, methods
and scores (real Evidently 0.7 in the same test), and `inv drift`'s exit codes."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from runner.lifecycle import drift
from runner.lifecycle.common import feature_frame
from runner.lifecycle.stattests import P_VALUE_METHODS, drift_table
from runner.ml.project import load_project

REPO = Path(__file__).resolve().parents[2]
BANKCHURN = load_project(REPO / "projects" / "bankchurn").contract


def _generate(rows: int, seed: int, shift: float):  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location(
        "bankchurn_generate", REPO / "projects" / "bankchurn" / "generate.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return feature_frame(module.generate(rows, seed, shift), BANKCHURN)


@pytest.mark.slow
@pytest.mark.parametrize(("ref_rows", "cur_rows", "shift"), [
    (2000, 600, 1.0),   # large reference: Wasserstein / Jensen-Shannon
    (2000, 600, 0.0),
    (800, 400, 0.6),    # small reference: K-S / chi-square / Z test
])
def test_same_verdicts_as_evidently(ref_rows: int, cur_rows: int, shift: float,
                                    tmp_path: Path) -> None:
    reference = _generate(ref_rows, 1, 0.0)
    current = _generate(cur_rows, 2, shift)
    ours = {c.column: c for c in drift_table(reference, current, list(reference.columns))}
    theirs = drift.evidently_share(reference, current, tmp_path / "r.html")
    assert (tmp_path / "r.html").stat().st_size > 10_000
    assert set(ours) == set(theirs["columns"])
    for name, col in ours.items():
        ev = theirs["columns"][name]
        assert col.method == ev["method"], name
        assert col.score == pytest.approx(ev["score"], rel=1e-6, abs=1e-9), name
    share = sum(c.drifted for c in ours.values()) / len(ours)
    assert share == pytest.approx(theirs["share"])
    methods = {c.method for c in ours.values()}
    assert bool(methods & P_VALUE_METHODS) is (ref_rows <= 1000)


def test_exit_codes_report_and_gauge(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLGITOPS_STATE_DIR", str(tmp_path / "state"))
    ref, shifted, few = tmp_path / "ref.csv", tmp_path / "shifted.csv", tmp_path / "few.csv"
    _generate(3000, 1, 0.0).to_csv(ref, index=False)
    _generate(500, 2, 1.0).to_csv(shifted, index=False)
    _generate(50, 3, 1.0).to_csv(few, index=False)

    out = drift.check(REPO, "bankchurn", current=shifted, reference=ref, html=False)
    assert out["decision"] == "drift" and out["share"] > 0.5 and drift.exit_code(out) == 3
    gauge = json.loads((tmp_path / "state" / "monitor" / "drift.json").read_text())
    assert gauge["bankchurn"]["share"] == out["share"]
    saved = json.loads(Path(out["json"]).read_text())
    assert {c["column"] for c in saved["columns"]} == set(BANKCHURN.feature_names)

    same = drift.check(REPO, "bankchurn", current=ref, reference=ref, html=False)
    assert same["decision"] == "no drift" and same["share"] == 0.0
    assert drift.exit_code(same) == 0

    thin = drift.check(REPO, "bankchurn", current=few, reference=ref, html=False)
    assert thin["decision"] == "inconclusive" and thin["share"] is None
    assert drift.exit_code(thin) == 4
    assert "at least 200 needed" in drift.render(thin)
    # Inconclusive does not overwrite the last measured value with a pass.
    gauge = json.loads((tmp_path / "state" / "monitor" / "drift.json").read_text())
    assert gauge["bankchurn"]["share"] == same["share"]


def test_current_defaults_to_the_prediction_log(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """Rows as the replicas log them (rotated file included, a cut line skipped)."""
    state = tmp_path / "state"
    monkeypatch.setenv("MLGITOPS_STATE_DIR", str(state))
    ref = tmp_path / "ref.csv"
    _generate(2000, 1, 0.0).to_csv(ref, index=False)
    rows = json.loads(_generate(300, 2, 1.5).to_json(orient="records"))
    log = state / "predictions" / "bankchurn.jsonl"
    log.parent.mkdir(parents=True)
    extra = {"_ts": 1.0, "_model_version": "1", "_prediction": 0, "_probability": 0.1}
    lines = [json.dumps({**r, **extra}) for r in rows]
    (log.parent / "bankchurn.jsonl.1").write_text("\n".join(lines[:100]) + "\n")
    log.write_text("\n".join(lines[100:]) + "\n" + lines[0][:20] + "\n")
    out = drift.check(REPO, "bankchurn", reference=ref, html=False)
    assert out["current"]["rows"] == 300
    assert out["decision"] == "drift" and out["share"] > 0.5
