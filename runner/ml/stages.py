"""The DVC stages every project shares: prepare -> train -> evaluate -> register.

Run by each ``projects/<name>/dvc.yaml`` from the project directory:

    python -m runner.ml.stages prepare bankchurn

Inputs and outputs are files under the project (``data/raw/<file>``, ``data/prepared/``,
``models/``, ``metrics.json``), and settings come from its ``params.yaml``, so DVC sees
every dependency and a second ``dvc repro`` does nothing. What is particular to a project
(its contract, derived features and ``generate.py``) is read from its folder through
``runner.ml.project``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from runner.errors import PermanentError, ToolkitError
from runner.locations import repo_root
from runner.ml.project import load_project
from runner.ml.schemas import DatasetSchema

PREPARED = Path("data/prepared")
MODEL = Path("models/model.joblib")
METRICS = Path("metrics.json")
REGISTERED = Path("models/registered.json")


def load_params(project_dir: Path) -> dict[str, Any]:
    import yaml

    path = project_dir / "params.yaml"
    if not path.is_file():
        raise PermanentError("params.yaml not found", field=str(path))
    data = yaml.safe_load(path.read_text()) or {}
    if not isinstance(data, dict):
        raise PermanentError("params.yaml must be a mapping", field=str(path))
    return data


def git_commit(cwd: Path) -> str:
    """HEAD's commit, or ``unknown`` outside a git checkout."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True,
                             text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return out.stdout.strip() if out.returncode == 0 else "unknown"


def _read_prepared(project_dir: Path, schema: DatasetSchema, name: str) -> Any:
    from runner.ml.data_validation import validate_csv

    return validate_csv(project_dir / PREPARED / f"{name}.csv", schema)


def prepare(project_dir: Path, schema: DatasetSchema) -> str:
    """Validate the raw CSV, drop duplicate rows, split with the fixed seed."""
    from sklearn.model_selection import train_test_split

    from runner.ml.data_validation import validate_csv

    cfg = load_params(project_dir).get("prepare", {})
    raw = project_dir / "data" / "raw" / schema.raw_file
    clean = validate_csv(raw, schema)
    before = len(clean)
    clean = clean.drop_duplicates().reset_index(drop=True)
    stratify = clean[schema.target.name] if schema.task == "classification" else None
    train, test = train_test_split(
        clean, test_size=float(cfg.get("test_size", 0.2)),
        random_state=int(cfg.get("seed", 42)), stratify=stratify,
    )
    out = project_dir / PREPARED
    out.mkdir(parents=True, exist_ok=True)
    train.to_csv(out / "train.csv", index=False)
    test.to_csv(out / "test.csv", index=False)
    return (f"{schema.raw_file}: {before} rows valid, {before - len(clean)} duplicates dropped, "
            f"train {len(train)}, test {len(test)}")


def train(project_dir: Path, schema: DatasetSchema) -> str:
    """Fit the project's pipeline on train.csv and save it with joblib."""
    import joblib

    from runner.ml.modeling import build_model

    cfg = load_params(project_dir).get("train", {})
    data = _read_prepared(project_dir, schema, "train")
    model = build_model(schema, cfg)
    started = time.perf_counter()
    model.fit(data[schema.feature_names], data[schema.target.name])
    took = time.perf_counter() - started
    (project_dir / MODEL).parent.mkdir(parents=True, exist_ok=True)
    joblib.dump(model, project_dir / MODEL)
    return f"trained on {len(data)} rows in {took:.1f}s"


def evaluate(project_dir: Path, schema: DatasetSchema) -> str:
    """Score the model and the baselines on test.csv; write metrics.json; gate on the dummy."""
    import joblib

    from runner.ml.evaluate import beats, rounded, score
    from runner.ml.modeling import build_baselines

    cfg = load_params(project_dir).get("train", {})
    train_df = _read_prepared(project_dir, schema, "train")
    test_df = _read_prepared(project_dir, schema, "test")
    model = joblib.load(project_dir / MODEL)
    result: dict[str, Any] = {"model": rounded(score(model, schema, test_df)), "baselines": {}}
    for name, baseline in build_baselines(schema, cfg).items():
        baseline.fit(train_df[schema.feature_names], train_df[schema.target.name])
        result["baselines"][name] = rounded(score(baseline, schema, test_df))
    result["rows"] = {"train": len(train_df), "test": len(test_df)}
    (project_dir / METRICS).write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    metric = schema.primary_metric
    if not beats(result["model"], result["baselines"]["dummy"], metric):
        raise PermanentError(f"model {metric}={result['model'][metric]} does not beat the dummy "
                             f"baseline ({result['baselines']['dummy'][metric]})")
    return " ".join(f"{k}={v}" for k, v in result["model"].items())


def register(project_dir: Path, schema: DatasetSchema) -> str:
    """Register the trained model in MLflow (idempotent) and write models/registered.json."""
    from runner.ml import registry

    metrics = json.loads((project_dir / METRICS).read_text())
    params = load_params(project_dir)
    root = repo_root(project_dir)  # runner.locations: one rule everywhere
    raw = project_dir / "data" / "raw" / schema.raw_file
    sample = _read_prepared(project_dir, schema, "test")[schema.feature_names].head(50)
    # Numbers as doubles in the signature: requests may leave any nullable one empty, and
    # MLflow accepts an int where a double is declared but not the other way round.
    numeric = [c.name for c in schema.features if c.numeric]
    sample[numeric] = sample[numeric].astype("float64")
    tags = {"data_version": registry.file_md5(raw), "git_commit": git_commit(project_dir),
            "data_file": schema.raw_file}
    result = registry.register(
        root=root, schema=schema, model_path=project_dir / MODEL, metrics=metrics,
        params=params, tags=tags, signature_frame=sample,
    )
    # Only values that a fresh clone reproduces exactly: DVC records this file's hash in
    # dvc.lock, so a run id here would change the lock on every machine.
    record = {k: result[k] for k in ("model_name", "version", "model_sha256")}
    record["data_version"] = tags["data_version"]
    (project_dir / REGISTERED).write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
    state = "registered" if result["new"] else "already registered as"
    return f"{state} {schema.model_name} version {result['version']} (run {result['run_id']})"


STAGES = {"prepare": prepare, "train": train, "evaluate": evaluate, "register": register}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m runner.ml.stages")
    parser.add_argument("stage", choices=sorted(STAGES))
    parser.add_argument("project", nargs="?", help="project name (default: this directory's)")
    parser.add_argument("--project-dir", type=Path, default=None,
                        help="the project folder (default: the current directory)")
    args = parser.parse_args(argv)
    # OpenMP spin-waits badly when cores are shared (2-core CI, parallel jobs): training took
    # 1.2 s on one thread and 27 s on two there. It must be set before sklearn loads libgomp.
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    # Stages run offline: no usage telemetry from MLflow.
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    project_dir = (args.project_dir or Path.cwd()).resolve()
    try:
        if args.project and args.project != project_dir.name:
            raise PermanentError(f"project {args.project!r} is not the folder "
                                 f"{project_dir.name!r} (run from projects/{args.project})")
        schema = load_project(project_dir).contract
        message = STAGES[args.stage](project_dir, schema)
        print(f"{schema.project} {args.stage}: {message}")
    except ToolkitError as exc:
        print(f"{project_dir.name} {args.stage}: {exc.one_line()}", file=sys.stderr)
        return exc.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
