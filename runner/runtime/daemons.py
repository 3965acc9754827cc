"""Platform daemons run like replicas: MLflow server, Prometheus, Alertmanager.

Each is one detached process with a record ``<state>/run/<name>.json`` and a log beside
it, started only when not already answering, and waited for by polling its health URL
(``mlflow server`` needs about 17 s on a fresh database: never a fixed sleep).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from runner.errors import HealthCheckFailed, NotInstalled
from runner.runtime import health, logfiles
from runner.runtime.process import alive, spawn, start_time, terminate

RELOAD_ON_SIGHUP = frozenset({"prometheus", "alertmanager"})


@dataclass(frozen=True)
class Daemon:
    """How to run one platform daemon."""

    name: str
    argv: list[str]
    port: int
    health_path: str
    start_timeout_s: float = 60.0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@dataclass(frozen=True)
class DaemonStatus:
    name: str
    pid: int | None
    port: int
    running: bool
    healthy: bool
    managed: bool  # started by us (a record exists) rather than found answering


def mlflow_daemon(state: Path, port: int = 5000, workers: int = 1) -> Daemon:
    mlflow_dir = state / "mlflow"
    (mlflow_dir / "artifacts").mkdir(parents=True, exist_ok=True)
    (mlflow_dir / "metrics").mkdir(parents=True, exist_ok=True)
    exe = Path(sys.executable).with_name("mlflow")
    return Daemon(
        name="mlflow",
        argv=[
            str(exe) if exe.exists() else "mlflow", "server",
            "--backend-store-uri", f"sqlite:///{mlflow_dir / 'mlflow.db'}",
            "--default-artifact-root", str(mlflow_dir / "artifacts"),
            "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers),
            "--expose-prometheus", str(mlflow_dir / "metrics"),
        ],
        port=port,
        health_path="/health",
        start_timeout_s=90.0,
    )


def prometheus_daemon(state: Path, port: int = 9090) -> Daemon:
    binary = shutil.which("prometheus")
    if binary is None:
        raise NotInstalled("prometheus is not installed (apt-get install prometheus)")
    config = state / "prometheus" / "config"
    return Daemon(
        name="prometheus",
        argv=[
            binary, f"--config.file={config / 'prometheus.yml'}",
            f"--storage.tsdb.path={state / 'prometheus' / 'data'}",
            # No --web.enable-lifecycle: any local web page could POST /-/quit. Reloads
            # are a SIGHUP from the runner (``reload`` below), which owns the process.
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        port=port,
        health_path="/-/healthy",
    )


def alertmanager_daemon(state: Path, port: int = 9093) -> Daemon:
    binary = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
    if binary is None:
        raise NotInstalled("alertmanager is not installed (apt-get install "
                           "prometheus-alertmanager)")
    base = state / "alertmanager"
    return Daemon(
        name="alertmanager",
        argv=[
            binary, f"--config.file={base / 'config' / 'alertmanager.yml'}",
            f"--storage.path={base / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",  # single instance: no gossip port
        ],
        port=port,
        health_path="/-/healthy",
    )


def _record(state: Path, name: str) -> Path:
    return state / "run" / f"{name}.json"


def status(state: Path, daemon: Daemon) -> DaemonStatus:
    rec = _read(_record(state, daemon.name))
    pid = rec.get("pid") if rec else None
    running = alive(pid, rec.get("start")) if rec else False
    ok = health.healthy(daemon.port, daemon.health_path, timeout_s=2.0)
    return DaemonStatus(daemon.name, pid, daemon.port, running or ok, ok, rec is not None)


def ensure(state: Path, daemon: Daemon, *, env: dict[str, str] | None = None) -> DaemonStatus:
    """Start ``daemon`` unless it already answers; wait until its health URL says 200."""
    current = status(state, daemon)
    if current.healthy:
        return current
    if not current.running:
        log = state / "run" / f"{daemon.name}.log"
        logfiles.rotate_before_start(log)  # nobody holds it now: the one safe moment
        proc = spawn(daemon.argv, env={**os.environ, **(env or {})}, log_path=log, cwd=state)
        _write(_record(state, daemon.name), {
            "name": daemon.name, "pid": proc.pid, "start": start_time(proc.pid),
            "port": daemon.port, "argv": daemon.argv, "log": str(log), "started_at": time.time(),
        })
    deadline = time.monotonic() + daemon.start_timeout_s
    while time.monotonic() < deadline:
        if health.healthy(daemon.port, daemon.health_path, timeout_s=2.0):
            return status(state, daemon)
        rec = _read(_record(state, daemon.name))
        if rec and not alive(rec.get("pid"), rec.get("start")):
            raise HealthCheckFailed(f"{daemon.name} exited at start; see {rec.get('log')}")
        time.sleep(0.5)
    raise HealthCheckFailed(f"{daemon.name} did not answer {daemon.health_path} "
                            f"within {daemon.start_timeout_s:.0f}s")


def reload(state: Path, daemon: Daemon) -> bool:
    """SIGHUP a daemon we started (Prometheus and Alertmanager re-read their config).

    False when no live process of ours has that record: one started elsewhere (a compose
    stack, a test) is not ours to signal. Other daemons would die of a SIGHUP: never sent.
    """
    if daemon.name not in RELOAD_ON_SIGHUP:
        return False
    rec = _read(_record(state, daemon.name))
    pid = rec.get("pid")
    if not isinstance(pid, int) or not alive(pid, rec.get("start")):
        return False
    try:
        os.kill(pid, signal.SIGHUP)
    except ProcessLookupError:
        return False
    return True


def stop(state: Path, name: str) -> bool:
    """Stop a daemon we started; True if it was running."""
    path = _record(state, name)
    rec = _read(path)
    if not rec:
        return False
    was = terminate(int(rec["pid"]), rec.get("start"), timeout_s=20.0)
    path.unlink(missing_ok=True)
    return was


def _read(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _write(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=1))
    os.replace(tmp, path)
