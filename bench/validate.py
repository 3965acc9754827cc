"""Benchmark ``inv validate``: cold start of the real CLI, and load time by service count.

Run: ``.venv/bin/python bench/validate.py``. Prints a table; the aim is a cold start
under 1 s. The N-service rows write N copies of the bankchurn spec into a temp tree.
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from runner.spec import load_platform  # noqa: E402


def cold_start(runs: int = 5) -> list[float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(
            [str(ROOT / ".venv/bin/inv"), "validate"], cwd=ROOT, check=True, capture_output=True
        )
        times.append(time.perf_counter() - start)
    return times


def tree(dest: Path, count: int) -> Path:
    shutil.copytree(ROOT / "specs", dest / "specs")
    template = (ROOT / "specs/services/bankchurn.yaml").read_text()
    for path in (dest / "specs/services").glob("*.yaml"):
        path.unlink()
    for env in (dest / "specs/environments").glob("*.yaml"):
        env.write_text(f"platform: {{environment: {env.stem}}}\n")
    for i in range(count):
        name = f"svc{i}"
        fixtures = dest / "projects" / name / "tests" / "fixtures"
        fixtures.mkdir(parents=True)
        (fixtures / "sample_request.json").write_text("{}\n")
        text = template.replace("bankchurn", name).replace("port: 8001", f"port: {10000 + i}")
        (dest / "specs/services" / f"{name}.yaml").write_text(text)
    return dest


def main() -> None:
    rows = []
    times = cold_start()
    rows.append(
        (
            "inv validate cold start (5 runs)",
            f"median {statistics.median(times):.2f} s",
            f"max {max(times):.2f} s",
        )
    )
    for count in (3, 100, 1000):
        with tempfile.TemporaryDirectory() as tmp:
            root = tree(Path(tmp), count)
            start = time.perf_counter()
            platform = load_platform(root, "dev")
            took = time.perf_counter() - start
            assert len(platform.services) == count
        rows.append(
            (
                f"load_platform, {count} service files",
                f"{took:.2f} s",
                f"{took / count * 1000:.1f} ms/service",
            )
        )
    width = max(len(r[0]) for r in rows)
    print(f"{'case':<{width}}  {'time':<16}  note")
    for name, took_s, note in rows:
        print(f"{name:<{width}}  {took_s:<16}  {note}")


if __name__ == "__main__":
    main()
