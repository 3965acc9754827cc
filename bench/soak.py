"""Soak: the three services under steady keep-alive load for minutes; errors, p50/p99, memory.

    .venv/bin/python bench/soak.py [--minutes 10] [--rate 100] [--connections 4]

Self-contained: small real models of the three projects (their own generators and
pipelines) are trained and registered into a temporary MLflow sqlite registry, and one
real replica of each (``python -m runner.serving.launch``) is started on free ports on
127.0.0.1. The load is ``--rate`` requests/s in all, split evenly over the services, sent
on ``--connections`` keep-alive connections per service (concurrency is bounded: a late
request is sent at once, never queued behind more). One request in ten is a
``/predict_batch`` of 10 records, the rest ``/predict``; records vary within the data
contract. Resident memory (VmRSS) of each replica is read after a warm-up (start) and at
the end. Exit 1 if any request failed or a replica's memory grew 10% or more.
Report the load average beside the figures: the machine is shared.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))
from predict import Client, http_post, pct, process_cpu_s  # noqa: E402 - after sys.path

SERVICES = ("bankchurn", "carvision", "telecom")
TRAIN_ROWS = 600
WARMUP_S = 15.0
MAX_GROWTH = 0.10


def register(project: str, workdir: Path) -> str:
    """Train the project's own pipeline on generated rows and register it; the version."""
    from threadpoolctl import threadpool_limits

    from runner.ml import registry, stages
    from runner.ml.data_validation import validate_frame
    from runner.ml.evaluate import score
    from runner.ml.modeling import build_model
    from runner.ml.project import load_project

    schema = load_project(Path(__file__).resolve().parents[1] / "projects" / project).contract
    project_dir = REPO / "projects" / project
    spec = importlib.util.spec_from_file_location(f"soak_gen_{project}",
                                                  project_dir / "generate.py")
    assert spec is not None and spec.loader is not None
    generator = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generator)
    clean = validate_frame(generator.generate(rows=TRAIN_ROWS, seed=5), schema)
    cut = int(len(clean) * 0.8)
    train, test = clean.iloc[:cut], clean.iloc[cut:]
    params = stages.load_params(project_dir)
    train_params = dict(params.get("train", {}))
    train_params["model"] = {**train_params.get("model", {}), "max_iter": 50}
    with threadpool_limits(1):
        model = build_model(schema, train_params)
        model.fit(train[schema.feature_names], train[schema.target.name])
    import joblib

    path = workdir / f"{project}.joblib"
    joblib.dump(model, path)
    result = registry.register(
        root=workdir, schema=schema, model_path=path,
        metrics={"model": score(model, schema, test)}, params=params,
        tags={"data_version": f"soak-{project}", "git_commit": "soak"},
        signature_frame=test[schema.feature_names].head(20),
    )
    return str(result["version"])


def records(project: str, count: int) -> list[dict[str, Any]]:
    """Valid request records: rows of the project's generator, as the service takes them."""
    from runner.serving.definition import load_definition

    spec = importlib.util.spec_from_file_location(f"soak_rows_{project}",
                                                  REPO / "projects" / project / "generate.py")
    assert spec is not None and spec.loader is not None
    generator = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generator)
    definition = load_definition(REPO / "projects" / project)
    frame = generator.generate(rows=count * 2, seed=9)
    out = []
    for raw in json.loads(frame.to_json(orient="records")):
        row = {k: raw.get(k) for k in definition.record.model_fields}
        try:
            out.append(definition.record.model_validate(row).model_dump())
        except ValueError:
            continue  # the generator makes a few dirty rows on purpose
    return out[:count]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start(service: str, version: str, uri: str, state: Path, log: Path
          ) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    env = {**os.environ, "MLGITOPS_SERVICE": service,
           "MLGITOPS_PROJECT_DIR": str(REPO / "projects" / service),
           "MODEL_NAME": f"{service}-model", "MODEL_VERSION": version,
           "MLFLOW_TRACKING_URI": uri, "MLGITOPS_STATE_DIR": str(state),
           "PORT": str(port), "PYTHONPATH": str(REPO)}
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "runner.serving.launch"], env=env,
                                cwd=REPO, stdout=out, stderr=subprocess.STDOUT)
    return proc, port


def wait_healthy(proc: subprocess.Popen[bytes], port: int, timeout: float = 300) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"replica on {port} exited {proc.returncode}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    raise SystemExit(f"replica on {port} not healthy in {timeout:.0f} s")


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


@dataclass
class Stats:
    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def worker(port: int, bodies: list[bytes], step: float, offset: float, until: float,
           stats: Stats, record: threading.Event) -> None:
    """Sends one request every ``step`` seconds on one keep-alive connection."""
    client: Client | None = None
    next_at = time.monotonic() + offset
    rng = random.Random(port + int(offset * 1000))
    mine: list[float] = []
    while next_at < until and time.monotonic() < until:  # behind schedule: stop on time
        time.sleep(max(0.0, next_at - time.monotonic()))
        next_at += step
        try:
            if client is None:
                client = Client(port)
            status, took = client.post(rng.choice(bodies))
            if status != 200:
                raise RuntimeError(f"HTTP {status}")
            if record.is_set():
                mine.append(took * 1000)
        except (OSError, RuntimeError, ValueError) as exc:
            if record.is_set():
                with stats.lock:
                    stats.errors.append(f"{type(exc).__name__}: {exc}")
            if client is not None:
                client.close()
            client = None
    if client is not None:
        client.close()
    with stats.lock:
        stats.latencies.extend(mine)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=100.0, help="requests/s, all services")
    parser.add_argument("--connections", type=int, default=4, help="keep-alive per service")
    parser.add_argument("--services", nargs="+", default=list(SERVICES))
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")

    tmp = Path(tempfile.mkdtemp(prefix="soak-"))
    state = tmp / "state"
    uri = f"sqlite:///{tmp / 'mlflow.db'}"
    os.environ.update(MLFLOW_TRACKING_URI=uri, MLGITOPS_STATE_DIR=str(state))
    print(f"training and registering {', '.join(args.services)} in {tmp} ...", flush=True)
    versions = {s: register(s, tmp) for s in args.services}
    bodies: dict[str, list[bytes]] = {}
    for service in args.services:
        rows = records(service, 200)
        single = [http_post("/predict", row) for row in rows]
        batch = [http_post("/predict_batch", {"records": rows[i:i + 10]})
                 for i in range(0, 100, 10)]
        bodies[service] = single * 9 + batch * (len(single) // len(batch))  # 1 in 10

    procs: dict[str, tuple[subprocess.Popen[bytes], int]] = {}
    try:
        for service in args.services:
            procs[service] = start(service, versions[service], uri, state,
                                   tmp / f"{service}.log")
        for proc, port in procs.values():
            wait_healthy(proc, port)
        per_service = args.rate / len(args.services)
        step = args.connections / per_service
        load0 = os.getloadavg()
        began = time.monotonic()
        until = began + WARMUP_S + args.minutes * 60
        record = threading.Event()
        stats = {s: Stats() for s in args.services}
        threads = []
        for service, (_, port) in procs.items():
            for i in range(args.connections):
                t = threading.Thread(target=worker, daemon=True, args=(
                    port, bodies[service], step, i * step / args.connections, until,
                    stats[service], record))
                t.start()
                threads.append(t)
        print(f"warm-up {WARMUP_S:.0f} s, then {args.minutes:g} min at {args.rate:g} req/s "
              f"({args.connections} keep-alive connections per service) ...", flush=True)
        time.sleep(WARMUP_S)
        rss0 = {s: rss_mib(p.pid) for s, (p, _) in procs.items()}
        cpu0 = {s: process_cpu_s(p.pid) for s, (p, _) in procs.items()}
        client_cpu0 = time.process_time()
        record.set()
        measured_from = time.monotonic()
        next_print = measured_from + 60
        while any(t.is_alive() for t in threads):
            time.sleep(1)
            if time.monotonic() >= next_print:
                next_print += 60
                done = (time.monotonic() - measured_from) / 60
                rss = "  ".join(f"{s} {rss_mib(p.pid):.0f} MiB" for s, (p, _) in procs.items())
                errs = sum(len(st.errors) for st in stats.values())
                print(f"  {done:4.1f} min  errors {errs}  rss: {rss}", flush=True)
        elapsed = time.monotonic() - measured_from
        rss1 = {s: rss_mib(p.pid) for s, (p, _) in procs.items()}
        cpu1 = {s: process_cpu_s(p.pid) for s, (p, _) in procs.items()}
        load1 = os.getloadavg()
    finally:
        for proc, _ in procs.values():
            proc.terminate()
        for proc, _ in procs.values():
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()

    print(f"\nsoak: {elapsed / 60:.1f} min measured, target {args.rate:g} req/s; load average "
          f"{load0[0]:.2f} at start, {load1[0]:.2f} at end; client CPU "
          f"{time.process_time() - client_cpu0:.0f} s")
    header = (f"{'service':<10} {'requests':>8} {'req/s':>6} {'errors':>6} {'p50 ms':>7} "
              f"{'p99 ms':>7} {'cpu s':>6} {'rss start':>9} {'rss end':>8} {'growth':>7}")
    print(header)
    print("-" * len(header))
    failed = False
    for service in args.services:
        st = stats[service]
        n = len(st.latencies)
        growth = (rss1[service] - rss0[service]) / rss0[service] if rss0[service] else 0.0
        failed |= bool(st.errors) or growth >= MAX_GROWTH
        print(f"{service:<10} {n:>8} {n / elapsed:>6.1f} {len(st.errors):>6} "
              f"{pct(st.latencies, 0.5) if n else 0:>7.1f} "
              f"{pct(st.latencies, 0.99) if n else 0:>7.1f} {cpu1[service] - cpu0[service]:>6.0f} "
              f"{rss0[service]:>5.0f} MiB {rss1[service]:>4.0f} MiB {growth * 100:>6.1f}%")
        for error in st.errors[:3]:
            print(f"    {error}")
    print("\nOK: 0 errors, memory growth under 10%" if not failed else
          "\nFAILED: errors, or memory grew 10% or more")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
