"""Benchmark: bankchurn retrain-to-serving time (`inv retrain --promote`, real everything).

    .venv/bin/python bench/retrain.py [--rows 10000]

A temporary git repo with the real specs, playbooks and bankchurn project (the same
set-up as the integration tests), a fresh MLflow sqlite registry and state dir. First
v1 is trained and deployed (set-up, timed apart); then the measured run: shifted fresh
data -> `inv retrain --service bankchurn --data fresh.csv` (validate, train, candidate vs
champion, gate, register, spec commit, deploy with the health-gated switch and the
post-deploy watch: 2 s here as in the integration tests, the spec's default is 30 s)
until /model_info on the public port answers with v2. Prints the wall time and each play
task's share (from the play's event log).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

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


def main() -> int:
    from reconcile_fixtures import free_port, make_repo, model_version

    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=10_000)
    args = parser.parse_args()
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
