"""The retrain play's gate step for real, in-process: a temporary repo with the real specs,
a real MLflow sqlite registry, the bankchurn project's model trained on its generator's
data. The decision block is printed by ``inv retrain``'s renderer, registered as tags on
the candidate's version and carried by the audit trail ``inv history`` reads; ``inv
evaluate`` reports the same kind of interval for a metric drop and triggers on it only
beyond noise.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]


def _generate() -> Any:
    spec = importlib.util.spec_from_file_location(
        "bankchurn_generate", REPO / "projects" / "bankchurn" / "generate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.generate


def _run(root: Path, data: Path) -> dict[str, Any]:
    from runner.lifecycle import steps
    from runner.lifecycle.common import service_context

    ctx = service_context(root, "bankchurn")
    run_dir = steps.new_run_dir(ctx)
    dataset = steps.prepare_data(ctx, data, run_dir)
    steps.train(ctx, run_dir)
    return steps.compare_and_register(ctx, run_dir, dataset, "gate-test")


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    sys.path.insert(0, str(REPO / "tests" / "integration"))
    from reconcile_fixtures import free_port, make_repo

    tmp = tmp_path_factory.mktemp("gate-run")
    saved = {k: os.environ.get(k) for k in ("MLGITOPS_STATE_DIR", "MLFLOW_TRACKING_URI",
                                             "MLFLOW_REGISTRY_URI", "OMP_NUM_THREADS")}
    os.environ["MLGITOPS_STATE_DIR"] = str(tmp / "state")
    os.environ["OMP_NUM_THREADS"] = "1"
    os.environ.pop("MLFLOW_TRACKING_URI", None)
    os.environ.pop("MLFLOW_REGISTRY_URI", None)
    import sklearn.ensemble  # noqa: F401  (OpenMP loaded, so the thread limit applies)
    from threadpoolctl import threadpool_limits

    limit = threadpool_limits(1)  # predictions too, not only the train step's fit
    try:
        root = make_repo(tmp, port=free_port())
        frame = _generate()(10_000, 5)
        blind = frame.assign(IsActiveMember=0)  # the champion never sees this feature
        paths = {"blind": tmp / "blind.csv", "full": tmp / "full.csv"}
        blind.to_csv(paths["blind"], index=False)
        frame.to_csv(paths["full"], index=False)
        first = _run(root, paths["blind"])  # v1: no champion; the spec pins v1
        second = _run(root, paths["full"])  # v2 against the champion v1
        yield {"root": root, "state": tmp / "state", "frame": frame, "tmp": tmp,
               "first": first, "second": second}
    finally:
        limit.restore_original_limits()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def test_first_model_has_no_champion(lab: dict[str, Any]) -> None:
    first = lab["first"]
    assert (first["candidate_version"], first["outcome"], first["verdict"]) == (
        1, "promote", "no champion")
    assert "no champion to compare with" in first["summary"]


def test_better_candidate_block_and_tags(lab: dict[str, Any]) -> None:
    from runner.lifecycle.retrain import render
    from runner.ml import registry

    out = lab["second"]
    assert (out["candidate_version"], out["champion_version"]) == (2, 1)
    assert (out["outcome"], out["verdict"], out["passed"]) == ("promote", "better", True)
    gate = out["gate"]["comparison"]
    diff = gate["difference"]["roc_auc"]
    assert diff["low"] > 0.0 and diff["value"] >= 0.01, diff
    assert gate["rows"] == out["holdout_rows"] == 2000 and gate["seed"] == 42

    text = render({"comparison": out, "ok": True, "duration_s": 1.0}, promote=False)
    lines = text.splitlines()
    assert lines[0] == "candidate v2 vs champion v1 on 2000 held-out rows"
    assert lines[1] == "gate for bankchurn-model: candidate vs champion v1"
    rows = {ln.split()[0]: ln.split(None, 1)[1] for ln in lines[2:] if ln.startswith("  ")}
    cand, champ = gate["candidate"]["roc_auc"], gate["champion"]["roc_auc"]
    assert rows["candidate"] == f"{cand['value']:.4f} [{cand['low']:.4f}, {cand['high']:.4f}]"
    assert rows["champion"] == (f"{champ['value']:.4f} [{champ['low']:.4f}, "
                                f"{champ['high']:.4f}]")
    assert rows["difference"].startswith(f"{diff['value']:+.4f} [{diff['low']:+.4f}, "
                                         f"{diff['high']:+.4f}]")
    assert rows["metric"] == "roc_auc (higher is better), 2,000 held-out rows, 95% intervals"
    assert rows["rule"].startswith("promote when the lower bound of the roc_auc difference")
    assert rows["method"].endswith("2000 resamples, seed 42")
    assert rows["decision"] == "PROMOTE"
    assert any(ln.startswith("gate passed: roc_auc") for ln in lines)

    tags = registry.version_info(lab["root"], "bankchurn-model", 2)["tags"]
    assert tags["gate.decision"] == "passed" and tags["gate.verdict"] == "better"
    assert tags["gate.candidate.roc_auc"] == rows["candidate"]
    assert tags["gate.champion.roc_auc"] == rows["champion"]
    assert tags["gate.difference.roc_auc"] == rows["difference"].split(" (")[0]
    assert "gate.difference.f1" in tags
    assert (tags["gate.seed"], tags["gate.level"], tags["gate.champion_version"]) == (
        "42", "0.95", "1")
    assert tags["gate.report"].splitlines()[1:] == lines[3:3 + len(rows) - 1]
    assert tags["gate.rule"] == rows["rule"]


def test_audit_trail_carries_the_interval(lab: dict[str, Any]) -> None:
    from runner.state import StateStore

    store = StateStore(lab["state"])
    try:
        events = [e for e in store.events("bankchurn") if e.action == "retrain"]
    finally:
        store.close()
    last = events[-1]
    assert last.outcome == "passed" and last.detail["verdict"] == "better"
    diff = lab["second"]["gate"]["comparison"]["difference"]["roc_auc"]
    assert f"difference {diff['value']:+.4f} [{diff['low']:+.4f}, {diff['high']:+.4f}] (95%)" \
        in last.detail["reason"]


def test_evaluate_reports_the_interval_and_ignores_noise(lab: dict[str, Any],
                                                          capsys: pytest.CaptureFixture[str]
                                                          ) -> None:
    import joblib

    from runner.lifecycle.triggers import EXIT_DROP, evaluate, evaluate_command
    from runner.ml.evaluate import score
    from runner.ml.project import load_project

    root, tmp = lab["root"], lab["tmp"]
    schema = load_project(REPO / "projects" / "bankchurn").contract
    # The serving v1 (trained without IsActiveMember) on fresh labelled rows of its own
    # population: find a small sample whose point drop exceeds 5% by chance alone.
    model = joblib.load(Path(lab["first"]["run_dir"]) / "model.joblib")
    registered = lab["first"]["candidate"]["roc_auc"]
    fresh = _generate()(6_000, 99).assign(IsActiveMember=0)
    unlucky = None
    for start in range(0, 6_000, 150):
        part = fresh.iloc[start:start + 150]
        if (registered - score(model, schema, part)["roc_auc"]) / registered > 0.06:
            unlucky = part
            break
    assert unlucky is not None
    small = tmp / "small.csv"
    unlucky.to_csv(small, index=False)
    out = evaluate(root, "bankchurn", small)
    assert out["drop"] > out["limit"] and not out["triggered"]
    assert out["drop_interval"][0] < out["limit"] < out["drop_interval"][1]
    assert evaluate_command("bankchurn", str(small), root=root) == 0
    text = capsys.readouterr().out
    assert "not triggered: the drop's interval reaches" in text and "95%" in text

    # Labels that no longer follow the features: a drop far beyond noise, exit 3.
    shuffled = fresh.assign(Exited=fresh["Exited"].sample(frac=1.0, random_state=0).to_numpy())
    path = tmp / "shuffled.csv"
    shuffled.to_csv(path, index=False)
    assert evaluate_command("bankchurn", str(path), root=root) == EXIT_DROP
    text = capsys.readouterr().out
    assert f"inv retrain --service bankchurn --data {path}" in text
    head = text.splitlines()[0]
    assert "drop +" in head and "(retrain when the whole interval is above 5%" in head
