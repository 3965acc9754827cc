"""/predict_batch of 1,000 rows, this tree beside the anchor: issue 15 asks that the fast
single-record path leave batches no slower than when it was filed.

    .venv/bin/python bench/predict_batch.py [--against bafe95e] [--batches 100]

Each tree trains the three projects with its own code (its params.yaml, 5,000 generated
rows, seed 7: ``predict_setup.train_registry``) into a registry of its own, in a
subprocess with that tree on PYTHONPATH. For each service both replicas (``python -m
runner.serving.launch`` of each tree) run at once and the batches alternate between them
one at a time on keep-alive connections, so both see the same machine speed. The batch is
the anchor bench's: the anchor project's sample request 1,000 times, the same bytes to
both. Printed: p50 and p90 per side, and this tree's p50 over the anchor's.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SERVICES = ("bankchurn", "carvision", "telecom")
ANCHOR = "bafe95e"  # main when issue 15 was filed


def train(tree: Path, work: Path) -> None:
    """Run in a subprocess with ``tree`` on PYTHONPATH: its own code trains and registers."""
    from predict_setup import train_registry

    train_registry(work, list(SERVICES), tree)


def trained(tree: Path, work: Path) -> str:
    work.mkdir(parents=True)
    uri = f"sqlite:///{work / 'mlflow.db'}"
    env = {**os.environ, "PYTHONPATH": str(tree), "MLFLOW_TRACKING_URI": uri,
           "MLGITOPS_STATE_DIR": str(work / "state"), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, __file__, "--train-tree", str(tree), str(work)],
                          env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"training with {tree}'s code failed:\n{proc.stderr[-3000:]}")
    return uri


def start(tree: Path, service: str, uri: str, state: Path) -> tuple[subprocess.Popen[bytes], int]:
    import predict  # bench/predict.py: its free-port, health-wait replica start

    state.mkdir(parents=True)
    return predict.start_replica(service, "1", uri, state, tree=tree)


def main() -> None:
    parser = argparse.ArgumentParser(description="predict_batch beside the anchor")
    parser.add_argument("--against", default=ANCHOR)
    parser.add_argument("--batches", type=int, default=100)
    parser.add_argument("--train-tree", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.train_tree:
        train(Path(args.train_tree[0]), Path(args.train_tree[1]))
        return
    import predict
    from render import export  # bench/render.py: the anchor's tree by git archive

    os.environ.setdefault("OMP_NUM_THREADS", "1")
    load_before = os.getloadavg()
    started = time.perf_counter()
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-batch-") as tmp:
        trees = {"anchor": export(args.against, Path(tmp) / "anchor"), "this tree": REPO}
        uris = {side: trained(tree, Path(tmp) / f"registry-{i}")
                for i, (side, tree) in enumerate(trees.items())}
        for service in SERVICES:
            procs = {side: start(tree, service, uris[side], Path(tmp) / f"state-{service}-{i}")
                     for i, (side, tree) in enumerate(trees.items())}
            # The anchor's sample (this tree accepts the anchor's request shapes too): the
            # same bytes to both sides.
            sample = json.loads((trees["anchor"] / "projects" / service / "tests" /
                                 "fixtures" / "sample_request.json").read_text())
            request = predict.http_post("/predict_batch", {"records": [sample] * 1000})
            clients = {side: predict.Client(port) for side, (_, port) in procs.items()}
            times: dict[str, list[float]] = {side: [] for side in trees}
            try:
                for i in range(args.batches + 5):  # 5 warm-up rounds
                    for side in (list(trees) if i % 2 else list(trees)[::-1]):
                        status, seconds = clients[side].post(request)
                        if status != 200:
                            raise SystemExit(f"{side} {service}: HTTP {status}")
                        if i >= 5:
                            times[side].append(seconds * 1000)
            finally:
                for proc, _ in procs.values():
                    proc.terminate()
                    proc.wait(timeout=30)
            rows.append((service, times))
    print(f"\n/predict_batch of 1,000 rows (the sample request x 1,000), ms; {args.batches} "
          f"batches per side, alternating; anchor {args.against}; load average "
          f"{load_before[0]:.1f} before, {os.getloadavg()[0]:.1f} after, on {os.cpu_count()} cores")
    print(f"{'service':<10} {'anchor p50':>10} {'p90':>7} {'this p50':>9} {'p90':>7} {'ratio':>6}")
    for service, times in rows:
        a, b = times["anchor"], times["this tree"]
        ratio = statistics.median(b) / statistics.median(a)
        print(f"{service:<10} {statistics.median(a):>10.1f} {predict.pct(a, 0.9):>7.1f} "
              f"{statistics.median(b):>9.1f} {predict.pct(b, 0.9):>7.1f} {ratio:>6.2f}")
    print("Aim (issue 15): ratio <= 1 (no slower than the anchor); within 0.03 is this VM's "
          f"noise between alternating runs. bench: {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
