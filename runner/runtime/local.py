"""The local runtime: each replica is a ``python -m runner.serving.launch`` process.

Every replica gets a record ``<state>/run/<service>/<replica>.json`` (pid, process start
time, public and admin port, revision) and a log ``<replica>.log`` beside it; facts are
read back from those records and the process table, so a runner that died mid-apply
leaves nothing the next run cannot see. Replicas of one service share the public port
(SO_REUSEPORT, bound by the launcher); each has a private admin port for checks and
Prometheus (file_sd targets written here). A parked replica (warm standby, see base.py)
moves its record to ``<service>/standby/`` so facts and Prometheus no longer see it.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from runner.errors import HealthCheckFailed
from runner.runtime import health, logfiles
from runner.runtime.base import LogLine, ReplicaFact, ReplicaSpec, Runtime
from runner.runtime.process import alive, spawn, start_time, terminate

MIGRATE_REQ = Path("/proc/sys/net/ipv4/tcp_migrate_req")
STOP_TIMEOUT_S = 20.0
PARK_TIMEOUT_S = 10.0  # park: drain (0.5 s) then /health turns 503
UNPARK_BUDGET_S = 15.0  # unpark: rebind the public socket, then the candidate checks


def free_port() -> int:
    """A port nothing listens on right now (the kernel picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def enable_request_migration() -> bool:
    """Turn on net.ipv4.tcp_migrate_req when we may, and say whether it is on.

    Closing a SO_REUSEPORT listener resets the connections still waiting in its accept
    queue; with this setting the kernel hands them to another listener of the group
    instead (Linux 5.14+). Without it a replace under load drops a few requests
    (measured in bench/reconcile.py).
    """
    try:
        if MIGRATE_REQ.read_text().strip() == "1":
            return True
        MIGRATE_REQ.write_text("1\n")
        return MIGRATE_REQ.read_text().strip() == "1"
    except OSError:
        return False


class LocalRuntime(Runtime):
    """Replicas as supervised local processes on 127.0.0.1."""

    name = "local"

    def __init__(self, state: Path, root: Path, launcher: list[str] | None = None) -> None:
        self.state = state
        self.root = root
        self.run_dir = state / "run" / "services"
        self.targets_dir = state / "prometheus" / "config" / "targets"
        self.launcher = launcher or [sys.executable, "-m", "runner.serving.launch"]
        self.parkable = launcher is None  # our launcher parks on SIGUSR1; others may not

    # ----------------------------------------------------------------- facts

    def _records(self, service: str | None) -> list[Path]:
        if service is not None:
            return sorted((self.run_dir / service).glob("*.json"))
        return sorted(self.run_dir.glob("*/*.json"))

    def facts(
        self, services: Iterable[str] | None = None, *, check_health: bool = True
    ) -> dict[str, list[ReplicaFact]]:
        paths: list[Path] = []
        if services is None:
            paths = self._records(None)
        else:
            for svc in services:
                paths.extend(self._records(svc))
        facts: list[ReplicaFact] = []
        health_paths: dict[str, str] = {}
        for path in paths:
            try:
                rec = json.loads(path.read_text())
            except (OSError, ValueError):
                continue  # half-written by a runner killed at that instant: ignore
            facts.append(_fact(rec))
            health_paths[rec["replica"]] = rec.get("health_path", "/health")
        if check_health:
            running = [f for f in facts if f.running]
            checks = [(f.admin_port, health_paths[f.replica]) for f in running]
            answers = health.healthy_many(checks)
            states = dict(zip((f.replica for f in running), answers, strict=True))
            facts = [
                _with_health(f, states.get(f.replica)) if f.running else f for f in facts
            ]
        out: dict[str, list[ReplicaFact]] = {svc: [] for svc in services or []}
        for fact in facts:
            out.setdefault(fact.service, []).append(fact)
        return out

    # ----------------------------------------------------------------- actions

    def start(self, spec: ReplicaSpec) -> ReplicaFact:
        enable_request_migration()
        suffix = secrets.token_hex(2)
        replica = f"{spec.service}-v{spec.model_version}-{spec.spec_hash[:8]}-{suffix}"
        admin_port = free_port()
        folder = self.run_dir / spec.service
        folder.mkdir(parents=True, exist_ok=True)
        logfiles.prune(folder)  # files of replicas gone for longer than the runbook keeps
        # The replica writes and rotates <replica>.log itself (runner.serving.logfile);
        # the redirect catches only what bypasses logging (a crash before it is set up).
        log = folder / f"{replica}.log"
        env = {
            # Request lines in the replica log (inv logs --grep predict); opt out with 0.
            "MLGITOPS_ACCESS_LOG": os.environ.get("MLGITOPS_ACCESS_LOG", "1"),
            **os.environ,
            "MLGITOPS_SERVICE": spec.service,
            "MLGITOPS_REPLICA": replica,
            "MLGITOPS_PROJECT_DIR": str(spec.project_dir),
            "MLGITOPS_ROOT": str(self.root),
            "MLGITOPS_STATE_DIR": str(self.state),
            "MODEL_NAME": spec.model_name,
            "MODEL_VERSION": str(spec.model_version),
            "MLFLOW_TRACKING_URI": spec.tracking_uri,
            # One store holds tracking and registry. mlflow.set_registry_uri() in a parent
            # exports MLFLOW_REGISTRY_URI, which would otherwise send the replica elsewhere.
            "MLFLOW_REGISTRY_URI": spec.tracking_uri,
            "PORT": str(spec.port),
            "ADMIN_PORT": str(admin_port),
            "HOST": "127.0.0.1",
            "PYTHONUNBUFFERED": "1",
            "MLGITOPS_LOG_FILE": str(log),
            **spec.extra_env,
        }
        proc = spawn(self.launcher, env=env, log_path=log.with_suffix(".out"), cwd=self.root)
        started_at = time.time()
        record = {
            "service": spec.service, "replica": replica, "pid": proc.pid,
            "start": start_time(proc.pid), "port": spec.port, "admin_port": admin_port,
            "spec_hash": spec.spec_hash, "model_name": spec.model_name,
            "model_version": spec.model_version, "image": spec.image,
            "started_at": started_at, "log": str(log), "health_path": spec.health_path,
            "parkable": self.parkable,
        }
        _write_json(folder / f"{replica}.json", record)
        fact = ReplicaFact(
            service=spec.service, replica=replica, pid=proc.pid, port=spec.port,
            admin_port=admin_port, spec_hash=spec.spec_hash, model_name=spec.model_name,
            model_version=spec.model_version, started_at=started_at, running=True,
            healthy=None, log=str(log),
        )
        problem = self._wait_verified(fact, spec, proc)
        if problem is not None:
            self.stop(fact)
            raise HealthCheckFailed(f"{replica} failed its checks: {problem}")
        self._write_targets(spec.service)
        return _with_health(fact, True)

    def _wait_verified(
        self, fact: ReplicaFact, spec: ReplicaSpec, proc: subprocess.Popen[bytes]
    ) -> str | None:
        """Poll the candidate's admin port until it passes every check; why it did not."""
        return health.wait_verified(fact.admin_port, spec, lambda: None if proc.poll() is None
                                   else f"process exited; log tail: {_tail(Path(fact.log))}")

    # ----------------------------------------------------------------- warm standby

    def _standby_dir(self, service: str) -> Path:
        return self.run_dir / service / "standby"

    def standby(self, service: str) -> list[ReplicaFact]:
        facts = []
        for path in sorted(self._standby_dir(service).glob("*.json")):
            try:
                facts.append(_fact(json.loads(path.read_text())))
            except (OSError, ValueError):
                continue
        return facts

    def park(self, fact: ReplicaFact) -> bool:
        record = self.run_dir / fact.service / f"{fact.replica}.json"
        try:
            rec = json.loads(record.read_text())
        except (OSError, ValueError):
            return False
        if not rec.get("parkable") or not alive(fact.pid, rec.get("start")):
            return False  # started by a launcher without SIGUSR1 support: it would die
        # The record moves only once the public listener is closed: a runner killed
        # half-way leaves a visible (unhealthy) fact that the next converge stops, never
        # an unrecorded replica still serving.
        os.kill(fact.pid, signal.SIGUSR1)
        deadline = time.monotonic() + PARK_TIMEOUT_S
        while time.monotonic() < deadline:  # 503 once its public listener is closed
            status, _ = health.request(fact.admin_port, rec.get("health_path", "/health"))
            if status == 503:
                folder = self._standby_dir(fact.service)
                folder.mkdir(parents=True, exist_ok=True)
                _write_json(folder / record.name, {**rec, "parked_at": time.time()})
                record.unlink(missing_ok=True)
                self._write_targets(fact.service)
                return True
            if not alive(fact.pid, rec.get("start")):
                break
            time.sleep(0.05)
        self.stop(fact)
        return False

    def unpark(self, fact: ReplicaFact, spec: ReplicaSpec) -> ReplicaFact:
        path = self._standby_dir(fact.service) / f"{fact.replica}.json"
        try:
            rec = json.loads(path.read_text())
            rec.pop("parked_at", None)
            # Recorded as serving before it may serve (see park): a runner killed now
            # leaves a fact the next converge sees.
            _write_json(self.run_dir / fact.service / path.name, rec)
            path.unlink(missing_ok=True)
            os.kill(fact.pid, signal.SIGUSR2)
        except (OSError, ValueError) as exc:
            self.stop(fact)
            raise HealthCheckFailed(f"{fact.replica} cannot be unparked: {exc}") from None
        problem = "not answering"
        deadline = time.monotonic() + UNPARK_BUDGET_S
        while time.monotonic() < deadline and alive(fact.pid, rec.get("start")):
            problem = health.verify(
                fact.admin_port, model_version=spec.model_version,
                health_path=spec.health_path, smoke_request=spec.smoke_request,
                timeout_s=max(spec.health_timeout_s, 5.0),
            ) or ""
            if not problem:
                self._write_targets(fact.service)
                return _with_health(_fact(rec), True)
            time.sleep(0.05)
        self.stop(fact)
        raise HealthCheckFailed(f"{fact.replica} failed its checks after unpark: {problem}")

    def stop(self, fact: ReplicaFact) -> None:
        # Drop it from Prometheus first so its disappearance is not an alert.
        (self._standby_dir(fact.service) / f"{fact.replica}.json").unlink(missing_ok=True)
        record = self.run_dir / fact.service / f"{fact.replica}.json"
        start = None
        try:
            start = json.loads(record.read_text()).get("start")
        except (OSError, ValueError):
            pass
        record.unlink(missing_ok=True)
        self._write_targets(fact.service)
        terminate(fact.pid, start, timeout_s=STOP_TIMEOUT_S)

    def forget(self, fact: ReplicaFact) -> None:
        (self.run_dir / fact.service / f"{fact.replica}.json").unlink(missing_ok=True)
        (self._standby_dir(fact.service) / f"{fact.replica}.json").unlink(missing_ok=True)
        self._write_targets(fact.service)

    # ----------------------------------------------------------------- logs

    def logs(self, service: str, *, since: float | None = None, tail: int | None = None,
             follow: bool = False) -> Iterator[LogLine]:
        folder = self.run_dir / service
        yield from logfiles.read(folder, since=since, tail=tail)
        if follow:
            yield from logfiles.follow(folder)

    # ----------------------------------------------------------------- prometheus

    def _write_targets(self, service: str) -> None:
        """file_sd targets: every running replica's admin port, labelled service/replica."""
        facts = self.facts([service], check_health=False).get(service, [])
        groups = [
            {
                "targets": [f"127.0.0.1:{f.admin_port}"],
                "labels": {"service": f.service, "replica": f.replica},
            }
            for f in facts
            if f.running
        ]
        self.targets_dir.mkdir(parents=True, exist_ok=True)
        _write_json(self.targets_dir / f"{service}.json", groups)


def _fact(rec: dict[str, Any]) -> ReplicaFact:
    return ReplicaFact(
        service=rec["service"], replica=rec["replica"], pid=rec["pid"],
        port=rec["port"], admin_port=rec["admin_port"],
        spec_hash=rec["spec_hash"], model_name=rec["model_name"],
        model_version=rec["model_version"], started_at=rec["started_at"],
        running=alive(rec["pid"], rec.get("start")), log=rec.get("log", ""),
        parked_at=rec.get("parked_at", 0.0),
    )


def _with_health(fact: ReplicaFact, healthy: bool | None) -> ReplicaFact:
    from dataclasses import replace

    return replace(fact, healthy=healthy)


def _write_json(path: Path, data: object) -> None:
    # Write then rename: a reader (or a runner killed mid-write) never sees half a file.
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=1))
    os.replace(tmp, path)


def _tail(path: Path, lines: int = 5) -> str:
    """The last lines of a replica's output: its crash output (.out) first, then its log."""
    text: list[str] = []
    for part in (path.with_suffix(".out"), path):
        try:
            text += part.read_text(errors="replace").strip().splitlines()[-lines:]
        except OSError:
            continue
    return " | ".join(text[-lines:])[-600:] if text else "(no log)"
