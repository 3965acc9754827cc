"""The steps of ``playbooks/retrain.yaml``: data, train, compare + gate + register.

Each step reads and writes files in one run folder (``<state>/lifecycle/<service>/runs/
<stamp>/``: ``train.csv``, ``holdout.csv``, ``model.joblib``, ``comparison.json``), so a
failed run can be inspected afterwards and the playbook passes only that folder between
tasks. Training reuses the projects' own pipeline (``runner.ml.modeling.build_model``
with the project's ``params.yaml``), the comparison is a paired bootstrap of both
models' held-out predictions (``runner.lifecycle.paired``) gated by
``runner.lifecycle.gate``, and registration is ``runner.ml.registry.register`` (skops,
idempotent on the model hash).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

from runner.errors import PermanentError
from runner.lifecycle.common import ServiceContext
from runner.lifecycle.gate import evaluate as apply_gate


def new_run_dir(ctx: ServiceContext) -> Path:
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime()) + f"-{time.time_ns() % 10**6:06d}"
    path = ctx.workdir / "runs" / stamp
    path.mkdir(parents=True)
    return path


def pull(ctx: ServiceContext) -> str:
    """``dvc pull`` of the project's data; a workspace copy is used when there is no remote."""
    from runner.ml.pipeline import dvc_executable, stage_env

    target = str((ctx.project_dir / "dvc.yaml").relative_to(ctx.root))
    proc = subprocess.run([dvc_executable(), "pull", target], cwd=ctx.root, env=stage_env(),
                          capture_output=True, text=True, check=False, timeout=300)
    if proc.returncode == 0:
        return "dvc pull: ok"
    last = ((proc.stderr or proc.stdout).strip().splitlines() or ["failed"])[-1]
    if ctx.raw_data.is_file():
        return f"dvc pull failed ({last[:120]}); using the workspace copy"
    raise PermanentError(f"dvc pull failed and {ctx.raw_data.name} is not in the workspace: "
                         f"{last[:200]}")


def prepare_data(ctx: ServiceContext, data: Path | None, run_dir: Path) -> dict[str, Any]:
    """Pull (when no CSV is given) and validate; DataValidationError names the column."""
    from runner.ml.data_validation import validate_csv
    from runner.ml.registry import file_md5

    note = ""
    if data is None:
        note = pull(ctx)
        data = ctx.raw_data
    frame = validate_csv(data, ctx.schema)
    rows = len(frame)
    if rows < ctx.spec.retrain.min_rows:
        raise PermanentError(f"{data}: {rows} valid rows, at least "
                             f"{ctx.spec.retrain.min_rows} needed (retrain.min_rows)")
    frame.to_csv(run_dir / "data.csv", index=False)
    return {"path": str(data), "rows": rows, "data_version": file_md5(data), "note": note,
            "run_dir": str(run_dir)}


def train(ctx: ServiceContext, run_dir: Path) -> dict[str, Any]:
    """Split like the DVC prepare stage (seeded, stratified) and fit the project's model."""
    import os

    os.environ.setdefault("OMP_NUM_THREADS", "1")  # see runner.ml.stages.main
    import joblib
    import pandas as pd
    from sklearn.model_selection import train_test_split
    from threadpoolctl import threadpool_limits

    from runner.ml.data_validation import validate_frame
    from runner.ml.modeling import build_model
    from runner.ml.stages import load_params

    schema = ctx.schema
    params = load_params(ctx.project_dir)
    frame = validate_frame(pd.read_csv(run_dir / "data.csv"), schema)
    frame = frame.drop_duplicates().reset_index(drop=True)
    cfg = params.get("prepare", {})
    stratify = frame[schema.target.name] if schema.task == "classification" else None
    train_df, holdout = train_test_split(frame, test_size=float(cfg.get("test_size", 0.2)),
                                         random_state=int(cfg.get("seed", 42)),
                                         stratify=stratify)
    model = build_model(schema, params.get("train", {}))
    started = time.perf_counter()
    # The variable above only counts if OpenMP was not loaded yet (a long-lived process
    # may have imported sklearn already); the limit holds either way.
    with threadpool_limits(1):
        model.fit(train_df[schema.feature_names], train_df[schema.target.name])
    took = time.perf_counter() - started
    joblib.dump(model, run_dir / "model.joblib")
    train_df.to_csv(run_dir / "train.csv", index=False)
    holdout.to_csv(run_dir / "holdout.csv", index=False)
    return {"train_rows": len(train_df), "holdout_rows": len(holdout),
            "train_s": round(took, 2), "model": str(run_dir / "model.joblib")}


def champion_predictions(ctx: ServiceContext, holdout: Any) -> tuple[Any | None, str]:
    """The serving (spec-pinned) model's predictions on ``holdout``; None with the reason
    if there are none (not registered, or it fails on these rows)."""
    import mlflow.sklearn
    from mlflow.exceptions import MlflowException

    from runner.ml import registry
    from runner.ml.evaluate import predict

    name, version = ctx.spec.model.name, ctx.spec.model.version
    registry.client(ctx.root)
    try:
        model = mlflow.sklearn.load_model(f"models:/{name}/{version}")
    except (MlflowException, OSError) as exc:
        return None, f"champion v{version} not loadable: {str(exc).splitlines()[0][:120]}"
    try:
        return predict(model, ctx.schema, holdout), f"champion v{version}"
    except Exception as exc:  # a champion that cannot score the data cannot block a retrain
        return None, f"champion v{version} failed on the held-out rows: {type(exc).__name__}"


def gate_seed(params: dict[str, Any]) -> int:
    """The seed of the gate's resampling: the project's split seed, so a run is repeatable."""
    return int(params.get("prepare", {}).get("seed", 0))


def compare_and_register(ctx: ServiceContext, run_dir: Path, dataset: dict[str, Any],
                         actor: str) -> dict[str, Any]:
    """Candidate and champion paired on the same held-out rows (bootstrap intervals), the
    gate, the candidate registered with the decision as tags, the ``challenger`` alias
    pointed at it; audit everything."""
    import joblib
    import pandas as pd

    from runner.lifecycle.paired import compare
    from runner.ml import registry
    from runner.ml.data_validation import validate_frame
    from runner.ml.evaluate import predict, rounded
    from runner.ml.stages import git_commit, load_params
    from runner.state import StateStore

    schema = ctx.schema
    gate = ctx.spec.gate
    params = load_params(ctx.project_dir)
    holdout = validate_frame(pd.read_csv(run_dir / "holdout.csv"), schema)
    y = holdout[schema.target.name].to_numpy()
    mine = predict(joblib.load(run_dir / "model.joblib"), schema, holdout)
    theirs, champion_note = champion_predictions(ctx, holdout)
    comparison = compare(schema.task, y, mine, theirs, level=gate.confidence,
                         seed=gate_seed(params))
    decision = apply_gate(gate, comparison)
    candidate = rounded(decision.candidate)
    champion = rounded(decision.champion) if decision.champion is not None else None
    title = (f"gate for {schema.model_name}: candidate vs {champion_note}"
             if theirs is not None else f"gate for {schema.model_name}: first candidate "
                                        f"({champion_note or 'no champion'})")
    block = decision.block(title)
    tags = {
        "data_version": dataset["data_version"], "git_commit": git_commit(ctx.root),
        "data_file": Path(dataset["path"]).name, "retrain.run": run_dir.name,
        "gate.champion_version": str(ctx.spec.model.version),
        "gate.champion": champion_note,
        **decision.tags(),
    }
    sample = holdout[schema.feature_names].head(50).copy()
    numeric = [c.name for c in schema.features if c.numeric]
    sample[numeric] = sample[numeric].astype("float64")
    result = registry.register(
        root=ctx.root, schema=schema, model_path=run_dir / "model.joblib",
        metrics={"model": candidate}, params=params, tags=tags,
        signature_frame=sample,
    )
    version = int(result["version"])
    mlc = registry.client(ctx.root)
    if not result["new"]:  # the same model again: refresh the comparison on that version
        for key, value in tags.items():
            mlc.set_model_version_tag(schema.model_name, str(version), key, value)
    mlc.set_registered_model_alias(schema.model_name, "challenger", str(version))
    # These rows are the drift reference whenever the spec pins this version. Copied then
    # renamed: a runner killed mid-copy must not leave half a reference for a version that
    # may be pinned later (found by the kill -9 retrain test's review).
    reference = ctx.workdir / f"train-v{version}.csv"
    partial = reference.with_name(f".{reference.name}.{os.getpid()}.tmp")
    shutil.copyfile(run_dir / "train.csv", partial)
    partial.replace(reference)
    outcome = {
        "service": ctx.name, "candidate_version": version, "new_version": result["new"],
        "champion_version": ctx.spec.model.version, "champion_note": champion_note,
        "passed": decision.passed, "outcome": decision.outcome, "verdict": decision.verdict,
        "summary": decision.summary, "reasons": decision.reasons, "checks": decision.checks,
        "block": block, "gate": decision.as_dict(),
        "candidate": candidate, "champion": champion,
        "holdout_rows": len(holdout), "data": dataset["path"],
        "data_version": dataset["data_version"], "run_dir": str(run_dir),
    }
    (run_dir / "comparison.json").write_text(json.dumps(outcome, indent=2, sort_keys=True))
    store = StateStore(ctx.state)
    try:
        store.audit("alias", actor=actor, service=ctx.name, outcome="ok",
                    model=schema.model_name, alias="challenger", version=version,
                    reason=f"retrain candidate ({decision.summary[:200]})")
        store.audit("retrain", actor=actor, service=ctx.name, outcome=decision.word,
                    candidate_version=version, champion_version=ctx.spec.model.version,
                    reason=decision.summary, verdict=decision.verdict,
                    candidate=candidate, champion=champion,
                    data_version=dataset["data_version"])
    finally:
        store.close()
    return outcome
