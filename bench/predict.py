"""Predict latency, pipeline path beside the fast path: per service, one replica in each
mode (``MLGITOPS_FASTPATH=0`` / default), /predict p50/p99 and requests/s at 1 and 8
keep-alive clients, CPU per request, /predict_batch of 1,000 rows, and the number of
differing predictions on 1,000 generated rows (must be 0).

    .venv/bin/python bench/predict.py [--services bankchurn telecom] [--requests 400] [--train]

Models come from the registry the projects register into (``MLFLOW_TRACKING_URI``, else
``.state/mlflow/mlflow.db``), latest version of each; with ``--train`` (or when there is
none) each project's pipeline is trained with its own params.yaml on 5,000 generated rows
and registered in a temporary registry. One real replica at a time
(``python -m runner.serving.launch``) on free ports, so the runs do not compete for the
cores. The client is a raw-socket HTTP/1.1 keep-alive client: httpx would spend more CPU
per request than the server's own overhead. The machine is shared: CPU time per request
and the load average are printed beside wall times.
Aims (issue 15): fast path p50 < 1 ms end to end, >= 1,000 requests/s per replica per
core, 0 differing predictions, /predict_batch of 1,000 rows no slower than the pipeline.
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
        self.body = b""

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
        self.body = rest[:length]
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


def run_load(
    port: int, request: bytes, total: int, concurrency: int, pid: int | None = None
) -> dict[str, float]:
    """``total`` requests over ``concurrency`` keep-alive connections; latencies in ms,
    throughput, and (with the replica's ``pid``) its CPU ms per request."""
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
    cpu0 = process_cpu_s(pid) if pid else 0.0
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - start
    cpu = (process_cpu_s(pid) - cpu0) if pid else 0.0
    if errors:
        raise RuntimeError(f"{len(errors)} failed requests, e.g. HTTP {errors[0]}")
    return {
        "p50": pct(latencies, 0.5),
        "p99": pct(latencies, 0.99),
        "rps": len(latencies) / elapsed,
        "cpu_req": cpu / len(latencies) * 1000,
    }


def model_call(service: str, uri: str) -> dict[str, Any]:
    """The model alone, in process: the pipeline on a prebuilt one-row frame, the fast path
    on one record, and a 1,000-row frame."""
    import mlflow.sklearn

    from runner.serving.definition import load_definition, load_sample
    from runner.serving.fastcheck import decide

    definition = load_definition(REPO / "projects" / service)
    model = mlflow.sklearn.load_model(uri)
    call = model.predict_proba if definition.task == "classification" else model.predict
    sample = load_sample(REPO / "projects" / service)
    row = definition.record.model_validate(sample).model_dump()
    decision = decide(model, definition, [sample])
    fast = decision.fast
    return {
        "pipeline": (call, definition.frame([row])),
        "fast": (fast, [row]) if fast is not None else (call, definition.frame([row])),
        "fast_reason": decision.reason,
        "rows_1000": definition.frame([row] * 1000),
        "batch_call": call,
    }


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
    service: str, version: str, tracking_uri: str, state: Path, extra: dict[str, str] | None = None,
    tree: Path = REPO,
) -> tuple[subprocess.Popen[bytes], int]:
    """One replica of ``tree``'s code and project (bench/predict_batch.py starts the
    anchor's too), run in ``state``: ``python -m`` puts its working directory first on
    sys.path, which must not be another checkout."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {
        **os.environ,
        "MLGITOPS_SERVICE": service,
        "MLGITOPS_PROJECT_DIR": str(tree / "projects" / service),
        "MODEL_NAME": f"{service}-model",
        "MODEL_VERSION": version,
        "MLFLOW_TRACKING_URI": tracking_uri,
        "MLGITOPS_STATE_DIR": str(state),
        "PORT": str(port),
        "PYTHONPATH": str(tree),
        **(extra or {}),
    }
    log = open(state / f"{service}.log", "ab")  # noqa: SIM115 (lives as long as the process)
    proc = subprocess.Popen(
        [sys.executable, "-m", "runner.serving.launch"], env=env, stdout=log, stderr=log,
        cwd=state,
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


def answers(port: int, rows: list[dict[str, Any]]) -> tuple[list[Any], list[Any], str]:
    """Each row through /predict, all of them through one /predict_batch, and /model_info's
    serving path."""
    client = Client(port)
    try:
        single = []
        for row in rows:
            client.post(http_post("/predict", row))
            single.append(json.loads(client.body))
        client.post(http_post("/predict_batch", {"records": rows}))
        batch = json.loads(client.body)["predictions"]
        client.post(b"GET /model_info HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        path = json.loads(client.body).get("serving_path", "?")
    finally:
        client.close()
    return single, batch, path


def bench_service(
    service: str, version: str, tracking_uri: str, tmp: Path, args: argparse.Namespace
) -> dict[str, Any]:
    """Both modes of one service, one replica at a time."""
    from predict_setup import differing, request_rows

    m = model_call(service, f"models:/{service}-model/{version}")
    call, frame = m["pipeline"]
    for _ in range(20):
        call(frame)
    start = time.perf_counter()
    for _ in range(3):
        m["batch_call"](m["rows_1000"])
    result: dict[str, Any] = {"batch_floor": (time.perf_counter() - start) / 3 * 1000,
                              "fast_reason": m["fast_reason"]}
    rows = request_rows(service)
    sample = json.loads(
        (REPO / "projects" / service / "tests/fixtures/sample_request.json").read_text()
    )
    one = http_post("/predict", sample)
    batch_request = http_post("/predict_batch", {"records": rows})
    for mode in ("pipeline", "fast"):
        switch = {"MLGITOPS_FASTPATH": "0" if mode == "pipeline" else "1"}
        proc, port = start_replica(service, version, tracking_uri, tmp, switch)
        try:
            run_load(port, one, 50, 1)  # warm-up
            call, arg = m[mode]
            c1 = interleaved(port, proc.pid, one, call, arg, args.requests)
            c8 = run_load(port, one, args.requests * 2, 8, proc.pid)
            batch = run_load(port, batch_request, args.batches, 1, proc.pid)
            single, batch_answers, path = answers(port, rows)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
        result[mode] = {"c1": c1, "c8": c8, "batch": batch, "single": single,
                        "batch_answers": batch_answers, "path": path}
    fast, pipe = result["fast"], result["pipeline"]
    result["diff_single"] = differing(fast["single"], pipe["single"])
    result["diff_batch"] = differing(fast["single"], pipe["batch_answers"])
    result["rows"] = len(rows)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description="predict latency bench")
    parser.add_argument("--services", nargs="+", default=list(SERVICES), choices=SERVICES)
    parser.add_argument("--requests", type=int, default=400, help="per concurrency level")
    parser.add_argument("--batches", type=int, default=10)
    parser.add_argument("--train", action="store_true", help="train into a temporary registry")
    parser.add_argument("--probe", action="store_true", help="also run the overhead probe")
    args = parser.parse_args()

    import tempfile

    from predict_setup import train_registry

    from runner.state import paths

    load_before = os.getloadavg()
    wall0, cpu0 = time.perf_counter(), os.times()
    results = {}
    with tempfile.TemporaryDirectory(prefix="bench-predict-") as tmp:
        tracking_uri = paths.tracking_uri(paths.state_dir(REPO))
        versions = {} if args.train else latest_versions(tracking_uri, args.services)
        if len(versions) < len(args.services):
            print(f"training {', '.join(args.services)} into a temporary registry ...")
            tracking_uri, versions = train_registry(Path(tmp), args.services)
            latest_versions(tracking_uri, args.services)  # where model_call loads from
        for service in args.services:
            results[service] = bench_service(
                service, versions[service], tracking_uri, Path(tmp), args
            )
        probe = overhead_probe(Path(tmp), args.requests * 2) if args.probe else None
    report(results, args, load_before, probe)
    times = os.times()
    print(f"bench: {time.perf_counter() - wall0:.0f} s wall, this process "
          f"{times.user - cpu0.user + times.system - cpu0.system:.0f} s CPU")


def report(
    results: dict[str, Any], args: argparse.Namespace, load_before: tuple[float, ...],
    probe: dict[str, float] | None,
) -> None:
    load_after = os.getloadavg()
    print(
        f"\n/predict end to end (ms; client -> replica -> client on 127.0.0.1), "
        f"{args.requests} requests at c=1, {args.requests * 2} at c=8 (keep-alive clients); "
        f"load average {load_before[0]:.1f} before, {load_after[0]:.1f} after, "
        f"on {os.cpu_count()} cores"
    )
    header = (
        f"{'service':<10} {'path':<8} {'floor':>6} {'c1 p50':>7} {'c1 p99':>7} {'c1 rps':>7} "
        f"{'cpu/rq':>6} {'c8 p50':>7} {'c8 p99':>7} {'c8 rps':>7} {'cpu/rq':>6} "
        f"{'b1000':>7} {'b cpu':>7} {'diff':>5}"
    )
    print(header)
    print("-" * len(header))
    for service, r in results.items():
        for mode in ("pipeline", "fast"):
            x = r[mode]
            c1, c8, batch = x["c1"], x["c8"], x["batch"]
            diff = f"{r['diff_single']}" if mode == "fast" else ""
            print(
                f"{service:<10} {x['path']:<8} {c1['floor']:>6.3f} {c1['p50']:>7.2f} "
                f"{c1['p99']:>7.2f} {c1['rps']:>7.0f} {c1['cpu_req']:>6.2f} {c8['p50']:>7.2f} "
                f"{c8['p99']:>7.2f} {c8['rps']:>7.0f} {c8['cpu_req']:>6.2f} "
                f"{batch['p50']:>7.1f} {batch['cpu_req']:>7.1f} {diff:>5}"
            )
    print(
        "\npath: what /model_info says serves /predict. floor: the model alone in process"
        " (pipeline: predict(_proba) on a prebuilt one-row frame; fast: the fast path on one"
        " record), p50 ms. cpu/rq: the replica's CPU ms per request (all threads): unlike"
        " wall time it barely moves with other load. rps at c=8 is per replica (one process,"
        " one OpenMP thread). b1000 / b cpu: /predict_batch of 1,000 rows, p50 ms and replica"
        " CPU ms per batch (always the pipeline path). diff: of the 1,000 generated rows,"
        " answers of the fast replica's /predict that differ from the pipeline replica's"
        " /predict (must be 0)."
    )
    for service, r in results.items():
        print(
            f"{service}: {r['rows']} rows, fast /predict vs pipeline /predict_batch differ on "
            f"{r['diff_batch']}; in-process 1,000-row pipeline predict {r['batch_floor']:.1f} ms;"
            f" {r['fast_reason']}"
        )
    if probe is not None:
        print(
            f"\noverhead probe (telecom service, a ~0.1 ms DummyClassifier pipeline): floor "
            f"{probe['floor']:.2f} ms, /predict c=1 p50 {probe['p50']:.2f} p99 {probe['p99']:.2f} "
            f"ms, {probe['rps']:.0f} req/s; overhead p50 {probe['p50'] - probe['floor']:.2f} ms, "
            f"CPU {probe['cpu_req'] - probe['cpu_floor']:.2f} ms per request"
        )


if __name__ == "__main__":
    main()
