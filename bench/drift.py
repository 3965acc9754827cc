"""Benchmark of the drift check: `inv drift`'s decision path beside plain Evidently.

    .venv/bin/python bench/drift.py [--sizes 10000,100000,1000000] [--evidently-max 1000000]

Reference: 8,000 training rows of bankchurn (the size of its DVC-prepared train.csv).
Current: N rows from the project's generator with ``--shift 1`` (10 feature columns),
written to CSV. For each N it times, in this one process and on the same data:

- ``ours (check)``: ``runner.lifecycle.drift.check`` without the HTML: read both CSVs,
  type the columns, one test per column, write the JSON summary, set the gauge;
- ``ours (tests)``: the per-column tests alone on frames in memory;
- ``evidently``: ``Report([DataDriftPreset()]).run(current, reference)`` on the same frames
  (plus, once, the time to import Evidently),

and whether the two drift decisions (share of drifted columns) agree. Our tests are
Evidently's defaults with the same thresholds, on every row (no sampling, so no sampling
error to state). Prints one table.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def generate(rows: int, seed: int, shift: float):  # type: ignore[no-untyped-def]
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "bankchurn_generate", ROOT / "projects" / "bankchurn" / "generate.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.generate(rows, seed, shift)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--evidently-max", type=int, default=1_000_000,
                        help="skip plain Evidently above this many rows")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]

    from runner.lifecycle import drift
    from runner.lifecycle.common import feature_frame
    from runner.lifecycle.stattests import drift_table
    from runner.ml.project import load_project

    BANKCHURN = load_project(ROOT / "projects" / "bankchurn").contract
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["MLGITOPS_STATE_DIR"] = str(Path(tmp) / "state")
        ref_csv = Path(tmp) / "reference.csv"
        generate(10_000, 42, 0.0).head(8000).to_csv(ref_csv, index=False)
        evidently_import = None
        for n in sizes:
            cur_csv = Path(tmp) / f"current-{n}.csv"
            generate(n, 7, 1.0).to_csv(cur_csv, index=False)
            t, c = time.perf_counter(), time.process_time()
            summary = drift.check(ROOT, "bankchurn", current=cur_csv, reference=ref_csv,
                                  html=False)
            ours_check = time.perf_counter() - t
            ours_cpu = time.process_time() - c
            import pandas as pd

            reference = feature_frame(pd.read_csv(ref_csv), BANKCHURN)
            current = feature_frame(pd.read_csv(cur_csv), BANKCHURN)
            t = time.perf_counter()
            table = drift_table(reference, current, list(reference.columns))
            ours_tests = time.perf_counter() - t
            share = sum(c.drifted for c in table) / len(table)
            ev_s: float | None = None
            ev_cpu = 0.0
            ev_share: float | None = None
            if n <= args.evidently_max:
                if evidently_import is None:
                    t = time.perf_counter()
                    from evidently import Report
                    from evidently.presets import DataDriftPreset

                    evidently_import = time.perf_counter() - t
                t, c = time.perf_counter(), time.process_time()
                snap = Report([DataDriftPreset()]).run(current, reference)
                ev_s = time.perf_counter() - t
                ev_cpu = time.process_time() - c
                for m in snap.dict()["metrics"]:
                    if str(m["config"].get("type", "")).endswith("DriftedColumnsCount"):
                        ev_share = float(m["value"]["share"])
            rows.append((n, len(current.columns), ours_check, ours_cpu, ours_tests, share, ev_s,
                         ev_cpu, ev_share, summary["decision"]))
            print(f"... {n} rows done", file=sys.stderr, flush=True)

    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; wall seconds "
          "(CPU seconds of this process)")
    print(f"{'ROWS':>9} {'COLS':>4} {'OURS CHECK s':>16} {'OURS TESTS s':>13} {'SHARE':>6} "
          f"{'EVIDENTLY s':>16} {'EV SHARE':>9} {'SAME':>5}  DECISION")
    for n, cols, check_s, check_cpu, tests_s, share, ev_s, ev_cpu, ev_share, decision in rows:
        ours = f"{check_s:.2f} ({check_cpu:.1f})"
        ev = f"{ev_s:.2f} ({ev_cpu:.1f})" if ev_s is not None else "skipped"
        evs = f"{ev_share:9.2f}" if ev_share is not None else f"{'-':>9}"
        same = "-" if ev_share is None else ("yes" if ev_share == share else "NO")
        print(f"{n:>9} {cols:>4} {ours:>16} {tests_s:13.2f} {share:6.2f} {ev:>16} {evs} "
              f"{same:>5}  {decision}")
    if evidently_import is not None:
        print(f"evidently import: {evidently_import:.1f}s (paid by the HTML report only)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
