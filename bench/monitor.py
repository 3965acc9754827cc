"""Benchmark of the runner's monitor process: start-up, scrape and webhook latency.

    .venv/bin/python bench/monitor.py [--posts 200] [--scrapes 100]

Starts ``python -m runner.monitor.server`` on a free port against a temporary state dir
filled with a realistic history (revisions, apply events, alert events), then times
GET /metrics and POST /alerts (audit + file sink + action matching and deduplication).
Prints one table.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def fill(state: Path, revisions: int, applies: int) -> None:
    from runner.monitor import drift_gauge
    from runner.state.state_store import SUCCESS, StateStore

    db = StateStore(state)
    for service in ("bankchurn", "carvision", "telecom"):
        for n in range(revisions):
            db.add_revision(service, spec_hash=f"h{n}", model_name=f"{service}-model",
                            model_version=n + 1, actor="bench", reason="bench", outcome=SUCCESS)
        drift_gauge.set(service, 0.1, state=state)
    for n in range(applies):
        db.audit("apply", actor="bench", outcome="ok", duration_s=1.0 + n % 30)
        db.audit("deploy", actor="bench", service="bankchurn", outcome="ok")
    db.close()


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--posts", type=int, default=200)
    parser.add_argument("--scrapes", type=int, default=100)
    args = parser.parse_args()
    rows: list[tuple[str, str, str, str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        root = base / "repo"
        root.mkdir()
        for name in ("specs", "projects"):
            (root / name).symlink_to(ROOT / name)
        (root / "playbooks").mkdir()
        state = base / "state"
        fill(state, revisions=50, applies=1000)
        port = free_port()
        env = {**os.environ, "MLGITOPS_ROOT": str(root), "MLGITOPS_STATE_DIR": str(state)}
        env.pop("MLGITOPS_WEBHOOK_URL", None)
        began = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-m", "runner.monitor.server", "--port", str(port)],
            env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            while True:
                try:
                    if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.02)
            rows.append(("start to /health", "1", f"{time.perf_counter() - began:.3f} s", ""))
            with httpx.Client(timeout=10) as client:
                times = []
                for _ in range(args.scrapes):
                    t = time.perf_counter()
                    body = client.get(f"{url}/metrics").text
                    times.append(time.perf_counter() - t)
                rows.append(("GET /metrics (150 revisions, 1000 applies)", str(args.scrapes),
                             f"{statistics.median(times) * 1000:.1f} ms",
                             f"{pct(times, 0.95) * 1000:.1f} ms"))
                rows.append(("  /metrics size", "", f"{len(body)} B", ""))
                times = []
                for n in range(args.posts):
                    payload = {"version": "4", "status": "firing", "alerts": [{
                        "status": "firing", "fingerprint": f"fp{n % 5}",
                        "startsAt": "2026-11-29T10:00:00Z",
                        "labels": {"alertname": "BankchurnDriftShareCritical",
                                   "service": "bankchurn", "severity": "critical",
                                   "kind": "drift_share"},
                        "annotations": {"summary": "bench"},
                    }]}
                    t = time.perf_counter()
                    assert client.post(f"{url}/alerts", json=payload).status_code == 200
                    times.append(time.perf_counter() - t)
                rows.append(("POST /alerts (audit, file sink, dedupe)", str(args.posts),
                             f"{statistics.median(times) * 1000:.1f} ms",
                             f"{pct(times, 0.95) * 1000:.1f} ms"))
        finally:
            proc.terminate()
            proc.wait(timeout=10)
        from runner.monitor import audit_access as store

        requested = len(store.events(store.PROCEDURE_REQUESTED, state=state))
        rows.append(("retrain requests recorded (5 fingerprints)", "", str(requested), ""))
    head = ("measure", "n", "median", "p95")
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(4)]
    for row in [head, *rows]:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)))


if __name__ == "__main__":
    main()
