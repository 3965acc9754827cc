"""``inv simulate-drift``: shifted traffic from the project's own generator to the service.

For drills and tests: ``projects/<p>/generate.py --shift X`` makes rows whose customer mix
moved (the same generator the training data comes from), and they are posted to the
running service on 127.0.0.1 in batches through ``/predict_batch``. The replicas log them
to ``<state>/predictions/<service>.jsonl``, where ``inv drift`` reads them. Bounded: at
most ``MAX_ROWS`` rows, each request with a timeout.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from runner.errors import PermanentError, TemporaryError

MAX_ROWS = 20_000
BATCH = 50


def shifted_rows(project_dir: Path, rows: int, shift: float, seed: int) -> list[dict[str, Any]]:
    """Rows from the project's generator (features only, NaN as null)."""
    import pandas as pd

    from runner.ml.project import load_project

    project = load_project(project_dir)
    schema = project.contract
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "shifted.csv"
        proc = subprocess.run(
            project.generate_argv(rows=rows, seed=seed, shift=shift, out=out),
            cwd=project_dir, capture_output=True, text=True, timeout=120, check=False)
        if proc.returncode != 0:
            raise PermanentError(f"{project_dir.name}/generate.py failed: "
                                 f"{(proc.stderr or proc.stdout).strip()[-200:]}")
        frame = pd.read_csv(out)[schema.feature_names]
    records: list[dict[str, Any]] = json.loads(frame.to_json(orient="records"))
    return records


def post(port: int, path: str, body: dict[str, Any], timeout: float = 10.0) -> tuple[int, Any]:
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("POST", path, body=json.dumps(body),
                     headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        raw = resp.read()
        try:
            return resp.status, json.loads(raw)
        except ValueError:
            return resp.status, raw.decode(errors="replace")
    finally:
        conn.close()


def simulate(root: Path, service: str, *, requests: int = 500, shift: float = 1.0,
             seed: int = 1234, env: str = "dev") -> dict[str, Any]:
    """Send ``requests`` shifted rows to ``service``; returns counts and timing."""
    from runner.lifecycle.common import service_context

    if not 1 <= requests <= MAX_ROWS:
        raise PermanentError(f"--requests must be between 1 and {MAX_ROWS}", field="--requests")
    ctx = service_context(root, service, env)
    records = shifted_rows(ctx.project_dir, requests, shift, seed)
    port = ctx.spec.port
    started = time.perf_counter()
    sent = failed = 0
    for i in range(0, len(records), BATCH):
        chunk = records[i:i + BATCH]
        try:
            status, body = post(port, "/predict_batch", {"records": chunk})
        except OSError as exc:
            raise TemporaryError(f"{service} on 127.0.0.1:{port} is not answering: {exc}") \
                from None
        if status != 200:
            failed += len(chunk)
            if failed == len(chunk):  # the first failure says why
                print(f"{service}: /predict_batch answered {status}: {str(body)[:200]}",
                      file=sys.stderr)
        sent += len(chunk)
    took = time.perf_counter() - started
    return {"service": service, "port": port, "shift": shift, "rows": sent, "failed": failed,
            "seconds": round(took, 2)}


def simulate_command(service: str, requests: int = 500, shift: float = 1.0, seed: int = 1234,
                     env: str = "dev", root: Path | None = None) -> int:
    from runner.state.paths import repo_root

    out = simulate((root or repo_root()).resolve(), service, requests=requests, shift=shift,
                   seed=seed, env=env)
    print(f"{service}: sent {out['rows']} rows shifted by {out['shift']} to 127.0.0.1:"
          f"{out['port']} in {out['seconds']}s, {out['failed']} failed; the replicas log them "
          f"for `inv drift --service {service}`")
    return 1 if out["failed"] else 0
