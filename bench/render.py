"""Render time for 3, 100 and 1,000 generated services (every artifact), as a table.

    .venv/bin/python bench/render.py [--sizes 3,100,1000] [--repeat 3]

The services are copies of specs/services/bankchurn.yaml with their own names and ports; the
platform spec is the real dev one. Times are for ``render_all`` (no disk writes), best of
``--repeat``: wall clock and this process's CPU time (on a shared machine CPU time is the
steadier number). The first (cold) run, which compiles the templates, is shown apart.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from runner.render import render_all  # noqa: E402
from runner.spec import load_platform  # noqa: E402
from runner.spec.models import Platform  # noqa: E402


def fleet(base: Platform, count: int) -> Platform:
    template = base.services[sorted(base.services)[0]]
    services = {}
    for index in range(count):
        name = f"svc-{index:04d}"
        services[name] = template.model_copy(
            update={
                "name": name,
                "port": 10000 + index,
                "model": template.model.model_copy(update={"name": f"{name}-model"}),
            }
        )
    return base.model_copy(update={"services": services})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="3,100,1000")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    base = load_platform(ROOT, "dev")

    start = time.perf_counter()
    render_all(base)
    cold = time.perf_counter() - start
    print(f"cold start (template compile + first render of {len(base.services)}): {cold:.3f} s\n")

    columns = ("services", 9), ("files", 6), ("MB", 6), ("wall s", 7), ("cpu s", 7), ("ms/svc", 7)
    header = " | ".join(f"{name:>{width}}" for name, width in columns)
    print(header)
    print("-" * len(header))
    for size in (int(s) for s in args.sizes.split(",")):
        platform = fleet(base, size)
        best = best_cpu = float("inf")
        files: dict[str, str] = {}
        for _ in range(args.repeat):
            start, start_cpu = time.perf_counter(), time.process_time()
            files = render_all(platform)
            best = min(best, time.perf_counter() - start)
            best_cpu = min(best_cpu, time.process_time() - start_cpu)
        megabytes = sum(len(text) for text in files.values()) / 1e6
        print(
            f"{size:>9} | {len(files):>6} | {megabytes:>6.1f} | {best:>7.3f} | "
            f"{best_cpu:>7.3f} | {best_cpu / size * 1000:>7.2f}"
        )


if __name__ == "__main__":
    main()
