"""Benchmarks of the retrain play for bankchurn, real everything.

    .venv/bin/python bench/retrain.py [--rows 10000]               # the gate (default)
    .venv/bin/python bench/retrain.py --to-serving [--rows 10000]  # retrain-to-serving

Both use a temporary git repo with the real specs, playbooks and bankchurn project (the
same set-up as the integration tests) and a fresh MLflow sqlite registry and state dir.

The gate (issue 16: "the whole gate under 20 s for 10k rows"): a first model v1 is
registered (set-up, timed apart), then fresh shifted data goes through the play's three
steps in a NEW process (imports included, as in `inv retrain`): validate the data, train
the candidate, and the gate step (candidate and champion predictions on the same held-out
rows, the paired bootstrap, the decision, registration with the tags, audit). Prints
wall and CPU seconds per step and the load average before and after, since the machine
is shared.

Retrain-to-serving: `inv retrain --service bankchurn --data fresh.csv` with the deploy
(spec commit, health-gated switch, post-deploy watch: 2 s here as in the integration
tests, the spec's default is 30 s) until /model_info on the public port answers with v2.
Prints the wall time and each play task's share (from the play's event log).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "integration"))


def task_times(state: Path, name: str) -> list[tuple[str, float]]:
    logs = sorted((state / "runs").glob(f"*-{name}.jsonl"))
    out = []
    for line in logs[-1].read_text().splitlines() if logs else []:
        event = json.loads(line)
        if event.get("event") == "task" and event.get("duration_s") is not None and \
                event.get("status") not in ("skipped", None):
            out.append((str(event["task"]), float(event["duration_s"])))
    return out


def gate_worker(root: str, data: str) -> None:
    """One retrain run's three steps in this (fresh) process; timings as JSON on stdout."""
    started, cpu0 = time.perf_counter(), time.process_time()
    timings: dict[str, list[float]] = {}

    def timed(name: str, func: Any, *a: Any) -> Any:
        t, c = time.perf_counter(), time.process_time()
        out = func(*a)
        timings[name] = [time.perf_counter() - t, time.process_time() - c]
        return out

    from runner.lifecycle import steps
    from runner.lifecycle.common import service_context

    ctx = timed("load specs", service_context, Path(root), "bankchurn")
    run_dir = steps.new_run_dir(ctx)
    dataset = timed("retrain_data: validate", steps.prepare_data, ctx, Path(data), run_dir)
    timed("retrain_train: split + fit", steps.train, ctx, run_dir)
    out = timed("retrain_gate: whole step", steps.compare_and_register, ctx, run_dir,
                dataset, "bench")
    timings["total in process"] = [time.perf_counter() - started, time.process_time() - cpu0]
    print(json.dumps({"timings": timings, "outcome": out["outcome"],
                      "verdict": out["verdict"], "block": out["block"],
                      "holdout_rows": out["holdout_rows"]}))


def bootstrap_only(block_rows: int) -> list[float]:
    """The paired bootstrap alone on ``block_rows`` rows (both models, default resamples)."""
    import numpy as np

    from runner.lifecycle.paired import compare

    rng = np.random.default_rng(0)
    y = (rng.random(block_rows) < 0.2).astype(int)
    p, q = rng.random(block_rows), rng.random(block_rows)
    t, c = time.perf_counter(), time.process_time()
    compare("classification", y, p, q, seed=0)
    return [time.perf_counter() - t, time.process_time() - c]


def gate(args: argparse.Namespace) -> int:
    from reconcile_fixtures import free_port, make_repo

    loads = [os.getloadavg()]
    with tempfile.TemporaryDirectory() as tmp:
        root = make_repo(Path(tmp), port=free_port())
        env = {**os.environ, "MLGITOPS_STATE_DIR": str(Path(tmp) / "state"),
               "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
        for key in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI"):
            env.pop(key, None)

        def data(name: str, seed: int, shift: float) -> Path:
            out = Path(tmp) / name
            subprocess.run([sys.executable, "generate.py", "--rows", str(args.rows), "--seed",
                            str(seed), "--shift", str(shift), "--out", str(out)],
                           cwd=root / "projects" / "bankchurn", check=True)
            return out

        def worker(csv: Path) -> tuple[dict[str, Any], list[float]]:
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            t = time.perf_counter()
            proc = subprocess.run([sys.executable, __file__, "--worker", str(root), str(csv)],
                                  env=env, capture_output=True, text=True, check=False)
            wall = time.perf_counter() - t
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            if proc.returncode != 0:
                raise SystemExit(proc.stderr[-3000:])
            cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
            return json.loads(proc.stdout.strip().splitlines()[-1]), [wall, cpu]

        setup, setup_total = worker(data("base.csv", 1, 0.0))
        loads.append(os.getloadavg())
        run, total = worker(data("fresh.csv", 2, 1.0))
        loads.append(os.getloadavg())
    boot = bootstrap_only(run["holdout_rows"])

    def fmt(load: tuple[float, float, float]) -> str:
        return " ".join(f"{x:.2f}" for x in load)

    print(f"bankchurn gate, {args.rows:,} rows of fresh data ({run['holdout_rows']:,} held "
          f"out), {os.cpu_count()} cores; load average (1/5/15 min) before {fmt(loads[0])}, "
          f"after set-up {fmt(loads[1])}, after {fmt(loads[2])}")
    print(f"{'STEP':<52}{'WALL s':>8}{'CPU s':>8}")
    for name, (wall, cpu) in run["timings"].items():
        print(f"{'  ' + name:<52}{wall:>8.2f}{cpu:>8.2f}")
    print(f"{'    of which the paired bootstrap alone':<52}{boot[0]:>8.2f}{boot[1]:>8.2f}")
    print(f"{'whole run, new process (imports included)':<52}{total[0]:>8.2f}{total[1]:>8.2f}")
    print(f"{'(set-up: v1, no champion, whole process)':<52}{setup_total[0]:>8.2f}"
          f"{setup_total[1]:>8.2f}")
    print(f"decision: {run['outcome']} ({run['verdict']})")
    print(run["block"])
    return 0


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--to-serving", action="store_true",
                        help="time inv retrain --promote until the new version serves")
    parser.add_argument("--worker", nargs=2, metavar=("ROOT", "CSV"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        gate_worker(*args.worker)
        return 0
    return to_serving(args) if args.to_serving else gate(args)


def to_serving(args: argparse.Namespace) -> int:
    from reconcile_fixtures import free_port, make_repo, model_version

    inv = str(ROOT / ".venv" / "bin" / "inv")
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        root = make_repo(Path(tmp), port=port, watch_s=2)
        state = Path(tmp) / "state"
        env = {**os.environ, "MLGITOPS_ROOT": str(root), "MLGITOPS_STATE_DIR": str(state),
               "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
        env.pop("MLFLOW_TRACKING_URI", None)

        def data(name: str, seed: int, shift: float) -> Path:
            out = Path(tmp) / name
            subprocess.run([sys.executable, "generate.py", "--rows", str(args.rows), "--seed",
                            str(seed), "--shift", str(shift), "--out", str(out)],
                           cwd=root / "projects" / "bankchurn", check=True)
            return out

        def run(*argv: str) -> float:
            t = time.perf_counter()
            proc = subprocess.run([inv, "--search-root", str(ROOT), *argv], cwd=root, env=env,
                                  capture_output=True, text=True, check=False)
            if proc.returncode != 0:
                print((proc.stdout + proc.stderr)[-2000:], file=sys.stderr)
                raise SystemExit(f"inv {argv[0]} failed ({proc.returncode})")
            return time.perf_counter() - t

        try:
            setup = run("retrain", "--service", "bankchurn", "--data",
                        str(data("base.csv", 1, 0.0)))
            assert model_version(port) == "1"
            first = task_times(state, "retrain")
            fresh = data("fresh.csv", 2, 1.0)
            t = time.perf_counter()
            run("retrain", "--service", "bankchurn", "--data", str(fresh), "--reason", "bench")
            while model_version(port) != "2":
                time.sleep(0.05)
            total = time.perf_counter() - t
            tasks = task_times(state, "retrain")
            deploy = task_times(state, "deploy")
        finally:
            os.environ.update(MLGITOPS_ROOT=str(root), MLGITOPS_STATE_DIR=str(state))
            from runner.operations.workspace import open_env

            open_env(root, "dev", quiet=True).runtime.remove("bankchurn")

    print(f"bankchurn retrain-to-serving, {args.rows} rows of fresh data "
          f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")
    print(f"{'STEP':<68}{'SECONDS':>8}")
    for name, secs in tasks:
        print(f"{'  ' + name:<68}{secs:>8.1f}")
    for name, secs in deploy:
        print(f"{'    deploy: ' + name:<68}{secs:>8.1f}")
    print(f"{'total: inv retrain --promote until /model_info says v2':<68}{total:>8.1f}")
    print(f"{'(set-up: first model v1 trained and deployed)':<68}{setup:>8.1f}")
    print(f"{'(set-up retrain tasks: ' + ', '.join(f'{s:.1f}' for _, s in first) + ')':<68}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
