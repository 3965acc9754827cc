"""Predict latency: /predict p50/p99 and requests/s at concurrency 1 and 8 per service,
beside the model's in-process predict time for one row (the floor), and /predict_batch of
1,000 rows against one row.

    .venv/bin/python bench/predict.py [--services bankchurn telecom] [--requests 400]

Models come from the registry the projects register into (``MLFLOW_TRACKING_URI``, else
``.state/mlflow/mlflow.db``), latest version of each; run ``inv train`` (or ``dvc repro``)
first. One real replica at a time (``python -m runner.serving.launch``) on free ports, so
the services do not compete for the cores. The client is a raw-socket HTTP/1.1 keep-alive
client: httpx would spend more CPU per request than the server's own overhead.
Aims (issue 3): HTTP overhead over the floor < 2 ms at p50; a 1,000-row batch < 10x one row.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("OMP_NUM_THREADS", "1")  # as in a replica, for an honest floor

SERVICES = ("bankchurn", "carvision", "telecom")
# Floor calls and requests alternate in rounds this small: the shared machine's speed
# drifts within seconds, and both sides of the comparison must see the same drift.
ROUND = 5


class Client:
    """One keep-alive connection; ``post`` returns (status, seconds)."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def post(self, request: bytes) -> tuple[int, float]:
        start = time.perf_counter()
        self.sock.sendall(request)
        while b"\r\n\r\n" not in self.buf:
            self.buf += self._recv()
        head, _, rest = self.buf.partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            key, _, value = line.partition(b":")
            if key.strip().lower() == b"content-length":
                length = int(value)
        while len(rest) < length:
            rest += self._recv()
        self.buf = rest[length:]
        return int(head.split(b" ", 2)[1]), time.perf_counter() - start

    def _recv(self) -> bytes:
        chunk = self.sock.recv(1 << 16)
        if not chunk:
            raise ConnectionError("server closed the connection")
        return chunk

    def close(self) -> None:
        self.sock.close()


def http_post(path: str, body: Any) -> bytes:
    data = json.dumps(body).encode()
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(data)}\r\n\r\n"
    )
    return head.encode() + data


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def run_load(port: int, request: bytes, total: int, concurrency: int) -> dict[str, float]:
    """``total`` requests over ``concurrency`` connections; latencies in ms, throughput."""
    latencies: list[float] = []
    errors: list[int] = []
    lock = threading.Lock()

    def worker(count: int) -> None:
        client = Client(port)
        mine: list[float] = []
        try:
            for _ in range(count):
                status, took = client.post(request)
                if status != 200:
                    errors.append(status)
                mine.append(took * 1000)
        finally:
            client.close()
        with lock:
            latencies.extend(mine)

    threads = [
        threading.Thread(target=worker, args=(total // concurrency,)) for _ in range(concurrency)
    ]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - start
    if errors:
        raise RuntimeError(f"{len(errors)} failed requests, e.g. HTTP {errors[0]}")
    return {
        "p50": pct(latencies, 0.5),
        "p99": pct(latencies, 0.99),
        "rps": len(latencies) / elapsed,
    }


def model_call(service: str, uri: str) -> tuple[Any, Any, Any]:
    """The model alone: (predict function, prebuilt one-row frame, 1,000-row frame)."""
    import mlflow.sklearn

    from runner.serving.definition import load_definition, load_sample

    definition = load_definition(REPO / "projects" / service)
    model = mlflow.sklearn.load_model(uri)
    call = model.predict_proba if definition.task == "classification" else model.predict
    sample = load_sample(REPO / "projects" / service)
    row = definition.record.model_validate(sample).model_dump()
    return call, definition.frame([row]), definition.frame([row] * 1000)


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process, all threads (from /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def interleaved(
    port: int, pid: int, request: bytes, call: Any, frame: Any, total: int
) -> dict[str, float]:
    """c=1 HTTP latency and the in-process floor, measured in alternating rounds of ROUND.

    The machine is shared: measuring the floor and the service minutes apart would compare
    two different loads, so they alternate. CPU time is measured too (the floor's thread
    time, the replica's process time): unlike wall time it barely moves with other load.
    """
    client = Client(port)
    http: list[float] = []
    model: list[float] = []
    http_time = model_cpu = server_cpu = 0.0
    try:
        for _ in range(max(1, total // ROUND)):
            cpu0 = time.thread_time()
            for _ in range(ROUND):
                start = time.perf_counter()
                call(frame)
                model.append((time.perf_counter() - start) * 1000)
            model_cpu += time.thread_time() - cpu0
            begin, server0 = time.perf_counter(), process_cpu_s(pid)
            for _ in range(ROUND):
                status, took = client.post(request)
                if status != 200:
                    raise RuntimeError(f"HTTP {status}")
                http.append(took * 1000)
            http_time += time.perf_counter() - begin
            server_cpu += process_cpu_s(pid) - server0
    finally:
        client.close()
    return {
        "floor": statistics.median(model),
        "p50": pct(http, 0.5),
        "p99": pct(http, 0.99),
        "rps": len(http) / http_time,
        "cpu_floor": model_cpu / len(model) * 1000,
        "cpu_req": server_cpu / len(http) * 1000,
    }


def start_replica(
    service: str, version: str, tracking_uri: str, state: Path
) -> tuple[subprocess.Popen[bytes], int]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {
        **os.environ,
        "MLGITOPS_SERVICE": service,
        "MLGITOPS_PROJECT_DIR": str(REPO / "projects" / service),
        "MODEL_NAME": f"{service}-model",
        "MODEL_VERSION": version,
        "MLFLOW_TRACKING_URI": tracking_uri,
        "MLGITOPS_STATE_DIR": str(state),
        "PORT": str(port),
        "PYTHONPATH": str(REPO),
    }
    log = open(state / f"{service}.log", "wb")  # noqa: SIM115 (lives as long as the process)
    proc = subprocess.Popen(
        [sys.executable, "-m", "runner.serving.launch"], env=env, stdout=log, stderr=log
    )
    deadline = time.monotonic() + 300
    health = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{service} replica exited; see {state / (service + '.log')}")
        try:
            client = Client(port)
            status, _ = client.post(health)
            client.close()
            if status == 200:
                return proc, port
        except OSError:
            pass
        time.sleep(0.2)
    proc.terminate()
    raise RuntimeError(f"{service} replica not healthy in time")


def overhead_probe(tmp: Path, requests: int) -> dict[str, float]:
    """The serving overhead alone: telecom's service around a model that costs ~0.1 ms.

    A real registered model (a scikit-learn Pipeline of a DummyClassifier, skops format,
    temporary sqlite registry) so the whole path runs, validation and frame included,
    while the floor is too small for the machine's speed drift to hide the overhead.
    """
    import mlflow
    import mlflow.sklearn
    import skops.io
    from sklearn.dummy import DummyClassifier
    from sklearn.pipeline import Pipeline

    from runner.serving.definition import load_definition, load_sample

    uri = f"sqlite:///{tmp / 'probe.db'}"
    definition = load_definition(REPO / "projects" / "telecom")
    sample = load_sample(REPO / "projects" / "telecom")
    model = Pipeline([("model", DummyClassifier())]).fit(definition.frame([sample] * 2), [0, 1])
    mlflow.set_tracking_uri(uri)
    # An explicit artifact location: the default experiment would write ./mlruns into the cwd.
    experiment = mlflow.create_experiment("probe", artifact_location=(tmp / "art").as_uri())
    with mlflow.start_run(experiment_id=experiment):
        mlflow.sklearn.log_model(
            model,
            name="model",
            registered_model_name="telecom-model",
            pip_requirements=["scikit-learn"],
            skops_trusted_types=skops.io.get_untrusted_types(data=skops.io.dumps(model)),
        )
    state = tmp / "probe"
    state.mkdir()
    proc, port = start_replica("telecom", "1", uri, state)
    try:
        request = http_post("/predict", sample)
        run_load(port, request, 100, 1)  # warm-up
        frame = definition.frame([sample])
        return interleaved(port, proc.pid, request, model.predict_proba, frame, requests)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def latest_versions(tracking_uri: str, services: list[str]) -> dict[str, str]:
    import mlflow
    from mlflow.tracking import MlflowClient

    mlflow.set_tracking_uri(tracking_uri)  # also where floor() loads the models from
    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    found = {}
    for service in services:
        versions = client.search_model_versions(f"name='{service}-model'")
        if versions:
            found[service] = str(max(int(v.version) for v in versions))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description="predict latency bench")
    parser.add_argument("--services", nargs="+", default=list(SERVICES), choices=SERVICES)
    parser.add_argument("--requests", type=int, default=400, help="per concurrency level")
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--no-probe", action="store_true", help="skip the overhead probe")
    args = parser.parse_args()

    import tempfile

    from runner.state import paths

    tracking_uri = paths.tracking_uri(paths.state_dir(REPO))
    versions = latest_versions(tracking_uri, args.services)
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-predict-") as tmp:
        for service in args.services:
            if service not in versions:
                print(f"{service}: no registered model at {tracking_uri}; run `inv train` first")
                continue
            version = versions[service]
            call, one_row, rows_1000 = model_call(service, f"models:/{service}-model/{version}")
            for _ in range(20):
                call(one_row)
            start = time.perf_counter()
            for _ in range(3):
                call(rows_1000)
            batch_floor = (time.perf_counter() - start) / 3 * 1000
            proc, port = start_replica(service, version, tracking_uri, Path(tmp))
            try:
                sample = json.loads(
                    (REPO / "projects" / service / "tests/fixtures/sample_request.json").read_text()
                )
                one = http_post("/predict", sample)
                run_load(port, one, 50, 1)  # warm-up
                c1 = interleaved(port, proc.pid, one, call, one_row, args.requests)
                c8 = run_load(port, one, args.requests * 2, 8)
                batch = run_load(
                    port, http_post("/predict_batch", {"records": [sample] * 1000}), args.batches, 1
                )
            finally:
                proc.terminate()
                proc.wait(timeout=30)
            rows.append((service, version, c1, c8, batch, batch_floor))
        probe = None if args.no_probe else overhead_probe(Path(tmp), args.requests * 2)

    print(
        f"\n/predict latency (ms), {args.requests} requests at c=1 and {args.requests * 2} at c=8; "
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    )
    header = (
        f"{'service':<10} {'ver':>3} {'floor':>6} {'c1 p50':>7} {'c1 p99':>7} {'c1 rps':>7} "
        f"{'ovh p50':>7} {'c8 p50':>7} {'c8 p99':>7} {'c8 rps':>7} {'b1000':>7} {'b/one':>6} "
        f"{'cpu fl':>6} {'cpu rq':>6} {'cpu ovh':>7}"
    )
    print(header)
    print("-" * len(header))
    for service, version, c1, c8, batch, _ in rows:
        overhead = c1["p50"] - c1["floor"]
        ratio = batch["p50"] / c1["p50"]
        print(
            f"{service:<10} {version:>3} {c1['floor']:>6.2f} {c1['p50']:>7.2f} {c1['p99']:>7.2f} "
            f"{c1['rps']:>7.0f} {overhead:>7.2f} {c8['p50']:>7.2f} {c8['p99']:>7.2f} "
            f"{c8['rps']:>7.0f} {batch['p50']:>7.1f} {ratio:>6.1f} "
            f"{c1['cpu_floor']:>6.2f} {c1['cpu_req']:>6.2f} {c1['cpu_req'] - c1['cpu_floor']:>7.2f}"
        )
    print(
        "\nfloor: model.predict(_proba) on a prebuilt one-row frame, in process, p50, measured"
        " in rounds alternating with the c=1 requests (same load); ovh = c1 p50 - floor;"
    )
    print("b1000: /predict_batch of 1,000 rows, p50 ms; b/one: that over the one-row /predict p50.")
    print("cpu fl / cpu rq: CPU ms per floor call / per request in the replica (all threads, at")
    print("c=1); cpu ovh = their difference (both drift with the shared VM's speed).")
    if probe is not None:
        print(
            f"\noverhead probe (telecom service, a ~0.1 ms DummyClassifier pipeline): floor "
            f"{probe['floor']:.2f} ms, /predict c=1 p50 {probe['p50']:.2f} p99 {probe['p99']:.2f} "
            f"ms, {probe['rps']:.0f} req/s; overhead p50 {probe['p50'] - probe['floor']:.2f} ms, "
            f"CPU {probe['cpu_req'] - probe['cpu_floor']:.2f} ms per request"
        )
    print(
        "Aims: ovh < 2 ms; b/one < 10.  In-process 1,000-row predict (ms): "
        + ", ".join(f"{r[0]} {r[5]:.1f}" for r in rows)
    )


if __name__ == "__main__":
    main()
