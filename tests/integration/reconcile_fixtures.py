"""Shared set-up for the reconcile integration tests: a temporary git repo with the real
specs (bankchurn only, on a free port), a real MLflow sqlite registry holding small real
bankchurn models, and a bounded load generator that counts failed requests.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def git(root: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True,
                          text=True).stdout.strip()


def make_repo(tmp: Path, *, port: int, watch_s: int = 2) -> Path:
    """A git repo with the toolkit's specs (bankchurn only), playbooks and projects."""
    root = tmp / "repo"
    shutil.copytree(REPO / "specs", root / "specs")
    shutil.copytree(REPO / "playbooks", root / "playbooks")
    (root / "projects").mkdir()
    shutil.copytree(REPO / "projects" / "bankchurn", root / "projects" / "bankchurn",
                    ignore=shutil.ignore_patterns("data", "models", "__pycache__"))
    for other in ("carvision", "telecom"):
        (root / "specs" / "services" / f"{other}.yaml").unlink()
        for overlay in (root / "specs" / "environments").glob("*.yaml"):
            _drop_service(overlay, other)
    spec = root / "specs" / "services" / "bankchurn.yaml"
    spec.write_text(re.sub(r"(?m)^port: \d+", f"port: {port}", spec.read_text()))
    platform = root / "specs" / "platform.yaml"
    platform.write_text(re.sub(r"(?m)^post_deploy_watch_s: \d+", f"post_deploy_watch_s: {watch_s}",
                               platform.read_text()))
    git(root, "init", "-q")
    git(root, "config", "user.email", "test@example.invalid")
    git(root, "config", "user.name", "test")
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", "initial specs")
    return root


def free_platform_ports(root: Path) -> None:
    """Every platform port (MLflow, Prometheus, Alertmanager, exporter, Grafana) a free one
    and scrapes every 2 s (a fresh target shows up fast): for tests that run ``inv up``
    beside other tests on the machine. Committed."""
    path = root / "specs" / "platform.yaml"
    text = path.read_text()
    for port in (5000, 9090, 9093, 9108, 3000):
        text = re.sub(rf"\bport: {port}\b", f"port: {free_port()}", text)
    text = re.sub(r"(?m)^(  (scrape|evaluation)_interval_s:) \d+", r"\1 2", text)
    path.write_text(text)
    git(root, "commit", "-qam", "free ports")


def _drop_service(overlay: Path, name: str) -> None:
    """Remove ``name``'s block from an overlay's ``services:`` mapping (2-space indent)."""
    lines = overlay.read_text().splitlines(keepends=True)
    out, skipping = [], False
    for line in lines:
        if re.match(rf"^  {name}:", line):
            skipping = True
            continue
        if skipping and (line.startswith("    ") or not line.strip()):
            continue
        skipping = False
        out.append(line)
    overlay.write_text("".join(out))


def set_version(root: Path, version: int, *, commit: bool = True) -> None:
    spec = root / "specs" / "services" / "bankchurn.yaml"
    spec.write_text(re.sub(r"(?m)^(  version: )\d+", rf"\g<1>{version}", spec.read_text()))
    if commit:
        git(root, "commit", "-q", "-am", f"bankchurn v{version}")


TRAIN = r"""
import json, sys
import numpy as np, pandas as pd, mlflow, mlflow.sklearn
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder
from pathlib import Path
from runner.ml.project import load_project
BANKCHURN = load_project(Path(sys.argv[2]).parents[2]).contract
sample = BANKCHURN.example or json.load(open(sys.argv[2]))
mlflow.set_tracking_uri(sys.argv[1])
cats = [c.name for c in BANKCHURN.features if c.kind == "category"]
nums = [c.name for c in BANKCHURN.features if c.kind != "category"]
rng = np.random.default_rng(0)
rows = []
for i in range(200):
    r = dict(sample)
    for c in nums:
        r[c] = float(sample[c]) * rng.uniform(0.5, 1.5)
    rows.append(r)
X = pd.DataFrame(rows)
y = (X["Age"] > X["Age"].median()).astype(int)
for good in (True, True, False):
    cols = nums if good else ["nope"]
    Xf = X if good else pd.DataFrame({"nope": np.arange(200.0)})
    pre = ColumnTransformer([("c", OneHotEncoder(handle_unknown="ignore"), cats if good else []),
                             ("n", "passthrough", cols)])
    model = Pipeline([("pre", pre), ("clf", LogisticRegression(max_iter=200))]).fit(Xf, y)
    with mlflow.start_run():
        mlflow.sklearn.log_model(model, name="model", registered_model_name="bankchurn-model",
                                 pip_requirements=["scikit-learn"])
print("ok")
"""


def register_models(state: Path) -> str:
    """Register bankchurn-model v1, v2 (good) and v3 (fails its self-test) in a sqlite registry."""
    (state / "mlflow" / "artifacts").mkdir(parents=True, exist_ok=True)
    uri = f"sqlite:///{state / 'mlflow' / 'mlflow.db'}"
    env = {**os.environ, "MLFLOW_ARTIFACTS_DESTINATION": str(state / "mlflow" / "artifacts"),
           "MLFLOW_TRACKING_URI": uri, "MLFLOW_REGISTRY_URI": uri}
    sample = REPO / "projects" / "bankchurn" / "tests" / "fixtures" / "sample_request.json"
    subprocess.run([str(REPO / ".venv" / "bin" / "python"), "-c", TRAIN, uri, str(sample)],
                   check=True, cwd=state, env=env, capture_output=True, timeout=300)
    return uri


@dataclass
class Load:
    """Bounded load: ``rate`` POST /predict per second over ``clients`` workers, failures
    counted. Fresh connection per request, or (``keepalive``) one httpx keep-alive client
    per worker, which is what hits a replica that closes a connection under a request."""

    port: int
    body: bytes
    rate: float = 100.0
    clients: int = 4
    keepalive: bool = False
    sent: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)
    versions: set[str] = field(default_factory=set)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)

    def _one(self) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.request("POST", "/predict", body=self.body,
                         headers={"Content-Type": "application/json"})
            resp = conn.getresponse()
            resp.read()
            if resp.status != 200:
                self.failed += 1
                self.errors.append(f"status {resp.status}")
        except (OSError, http.client.HTTPException) as exc:
            self.failed += 1
            self.errors.append(f"{type(exc).__name__}: {exc}")
        finally:
            conn.close()

    def _kept(self, client: httpx.Client) -> None:
        try:
            resp = client.post(f"http://127.0.0.1:{self.port}/predict", content=self.body,
                               headers={"Content-Type": "application/json"})
            if resp.status_code != 200:
                self.failed += 1
                self.errors.append(f"status {resp.status_code}")
        except httpx.HTTPError as exc:
            self.failed += 1
            self.errors.append(f"{type(exc).__name__}: {exc}")

    def _run(self, offset: float, step: float) -> None:
        next_at = time.monotonic() + offset
        client = httpx.Client(timeout=10) if self.keepalive else None
        try:
            while not self._stop.is_set():
                if client is None:
                    self._one()
                else:
                    self._kept(client)
                self.sent += 1
                next_at += step
                time.sleep(max(0.0, next_at - time.monotonic()))
        finally:
            if client is not None:
                client.close()

    def __enter__(self) -> Load:
        # Each worker sends rate/clients per second: one slow request does not stall the rest.
        workers = self.clients
        step = workers / self.rate
        for i in range(workers):
            t = threading.Thread(target=self._run, args=(i * step / workers, step), daemon=True)
            t.start()
            self._threads.append(t)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=15)


def sample_body() -> bytes:
    path = REPO / "projects" / "bankchurn" / "tests" / "fixtures" / "sample_request.json"
    return json.dumps(json.loads(path.read_text())).encode()


def model_version(port: int) -> str | None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", "/model_info")
        data = json.loads(conn.getresponse().read())
        return str(data.get("version"))
    except (OSError, ValueError, http.client.HTTPException):
        return None
    finally:
        conn.close()
