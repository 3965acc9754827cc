"""The Docker runtime: each replica is a container of the service's image, on the host network.

Facts come from the engine alone: every container of ours carries labels (service,
replica, spec hash, model, ports, scope), so a second checkout on the same host, or a
runner that died mid-apply, reads the same facts; nothing is recorded under ``.state``.
The scope label is the platform's environment (``MLGITOPS_DOCKER_SCOPE`` overrides it, so
tests on a shared engine never see each other's containers).

Host networking, as the local runtime: a replica's launcher binds the public port with
SO_REUSEPORT and a private admin port, so two containers of one service share the public
port exactly like two local processes, and the same health-gated rolling replace (base.py)
applies. A warm standby is a parked container (SIGUSR1: public listener closed, model
loaded) renamed ``<name>.standby.<epoch>``: the name is the engine-side record of it.

The model is not in the image: the container reads it from the MLflow registry at start
(``MODEL_VERSION`` + the tracking URI), with the registry's directory bind-mounted at the
same path, so a model version change or a rollback needs no build. A missing image is
built from the rendered Dockerfile (``runner.images.build``); MLflow, Prometheus and
Alertmanager stay local processes reached on 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import secrets
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

from runner.errors import HealthCheckFailed, RuntimeActionError
from runner.images.build import ImageRecipe, dockerfile_for, ensure_image
from runner.images.docker_client import MANAGED, api_error, client, label, not_found
from runner.runtime import health
from runner.runtime.base import ReplicaFact, ReplicaSpec, Runtime
from runner.runtime.local import enable_request_migration, free_port

STOP_TIMEOUT_S = 20  # SIGTERM, drain (<= 6 s) and graceful shutdown, then SIGKILL
PARK_TIMEOUT_S = 10.0
UNPARK_BUDGET_S = 15.0
STANDBY_MARK = ".standby."
SECOND_NS = 1_000_000_000
CONTAINER_STATE_DIR = "/var/lib/mlgitops"  # the image's MLGITOPS_STATE_DIR
# Set per container by the runtime; a host value must not leak in and contradict them.
OWN_VARS = frozenset({"MLGITOPS_ROOT", "MLGITOPS_STATE_DIR", "MLGITOPS_PROJECT_DIR",
                      "MLGITOPS_SERVICE", "MLGITOPS_REPLICA"})

L_SERVICE, L_REPLICA, L_SCOPE = label("service"), label("replica"), label("scope")
L_SPEC, L_MODEL, L_VERSION = label("spec-hash"), label("model-name"), label("model-version")
L_PORT, L_ADMIN, L_STARTED = label("port"), label("admin-port"), label("started-at")
L_HEALTH = label("health-path")


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


class DockerRuntime(Runtime):
    """Replicas as containers of one engine, labelled, on the host network."""

    name = "docker"

    def __init__(self, state: Path, root: Path, environment: str = "dev",
                 progress: Callable[[str], None] | None = None) -> None:
        self.state = state
        self.root = root
        self.environment = environment
        self.scope = os.environ.get("MLGITOPS_DOCKER_SCOPE") or environment
        self.targets_dir = state / "prometheus" / "config" / "targets"
        self.say = progress or _stderr

    # ----------------------------------------------------------------- facts

    def _containers(self, service: str | None = None) -> list[dict[str, Any]]:
        """Our containers (running or not), as the engine's list call returns them."""
        wanted = [f"{MANAGED}=replica", f"{L_SCOPE}={self.scope}"]
        if service is not None:
            wanted.append(f"{L_SERVICE}={service}")
        return list(client().api.containers(all=True, filters={"label": wanted}))

    def facts(
        self, services: Iterable[str] | None = None, *, check_health: bool = True
    ) -> dict[str, list[ReplicaFact]]:
        wanted = None if services is None else list(services)
        rows = self._containers(wanted[0] if wanted and len(wanted) == 1 else None)
        facts = [_fact(row) for row in rows if not _is_standby(row)]
        if wanted is not None:
            facts = [f for f in facts if f.service in wanted]
        if check_health:
            running = [f for f in facts if f.running]
            paths = {_name(r): r["Labels"].get(L_HEALTH, "/health") for r in rows}
            answers = health.healthy_many(
                [(f.admin_port, paths.get(f.log, "/health")) for f in running])
            states = dict(zip((f.replica for f in running), answers, strict=True))
            facts = [replace(f, healthy=states.get(f.replica)) if f.running else f
                     for f in facts]
        out: dict[str, list[ReplicaFact]] = {svc: [] for svc in wanted or []}
        for fact in facts:
            out.setdefault(fact.service, []).append(fact)
        return out

    def host_pids(self) -> set[int]:
        """The host pid of each running container's first process (serving or parked).

        Facts carry no pid (a container's pid means nothing to a second checkout), but the
        launcher listening on the host network is that process's descendant on this host:
        without these, ``inv up`` took a replica's own port for another program's."""
        pids = set()
        api = client().api
        for row in self._containers():
            if row.get("State") != "running":
                continue
            try:
                pid = int(api.inspect_container(row["Id"])["State"]["Pid"] or 0)
            except not_found():
                continue
            if pid:
                pids.add(pid)
        return pids

    # ----------------------------------------------------------------- actions

    def image_for(self, spec: ReplicaSpec) -> str:
        """The image this spec runs, built from the rendered Dockerfile when missing."""
        recipe = ImageRecipe(
            service=spec.service, image=spec.image, spec_hash=spec.spec_hash,
            model_name=spec.model_name, model_version=spec.model_version, root=self.root,
            dockerfile=dockerfile_for(self.root, self.environment, spec.service),
        )
        return ensure_image(recipe, progress=self.say)

    def start(self, spec: ReplicaSpec) -> ReplicaFact:
        enable_request_migration()
        image = self.image_for(spec)
        replica = f"{spec.service}-v{spec.model_version}-{spec.spec_hash[:8]}-" \
                  f"{secrets.token_hex(2)}"
        name = f"mlgitops-{self.scope}-{replica}"
        admin_port = free_port()
        started_at = time.time()
        labels = {
            MANAGED: "replica", L_SCOPE: self.scope, L_SERVICE: spec.service,
            L_REPLICA: replica, L_SPEC: spec.spec_hash, L_MODEL: spec.model_name,
            L_VERSION: str(spec.model_version), L_PORT: str(spec.port),
            L_ADMIN: str(admin_port), L_STARTED: f"{started_at:.3f}",
            L_HEALTH: spec.health_path,
        }
        try:
            container = client().containers.run(
                image, name=name, detach=True, labels=labels, network_mode="host",
                environment=self._environment(spec, replica, admin_port),
                volumes=self._volumes(spec),
                # The replica has the file access of whoever runs the toolkit (as a local
                # replica would): .state stays 0700 and its files 0600. No capabilities, a
                # read-only root, /tmp in memory.
                user=f"{os.getuid()}:{os.getgid()}", cap_drop=["ALL"],
                security_opt=["no-new-privileges"], read_only=True,
                # The container's own in-memory /tmp (bandit B108 is about the host's).
                tmpfs={"/tmp": "size=256m"},  # noqa: S108  # nosec B108
                init=True,  # tini as PID 1: SIGTERM/SIGUSR1 reach the launcher at any time
                # The engine's own probe is for `docker ps`; the runtime checks the admin port
                # itself. Every 10 s, not the image's 1 s: a Python start per probe costs CPU.
                healthcheck={"test": ["CMD", "python", "-m", "runner.serving.healthcheck"],
                             "interval": 10 * SECOND_NS, "timeout": 3 * SECOND_NS,
                             "retries": 3, "start_period": 60 * SECOND_NS},
                stop_signal="SIGTERM",
            )
        except api_error() as exc:
            raise RuntimeActionError(f"{spec.service}: cannot start a container of {image}: "
                                     f"{_one_line(exc)}") from None
        fact = _fact({"Names": [f"/{name}"], "Labels": labels, "State": "running",
                      "Id": container.id})
        problem = self._wait_verified(fact, spec, container.id)
        if problem is not None:
            self.stop(fact)
            raise HealthCheckFailed(f"{replica} failed its checks: {problem}")
        self._write_targets(spec.service)
        return replace(fact, healthy=True)

    def _environment(self, spec: ReplicaSpec, replica: str, admin_port: int) -> dict[str, str]:
        passed = {k: v for k, v in os.environ.items()
                  if k.startswith("MLGITOPS_") and k not in OWN_VARS}
        return {
            **passed,
            "MLGITOPS_SERVICE": spec.service,
            "MLGITOPS_REPLICA": replica,
            "MLGITOPS_STATE_DIR": CONTAINER_STATE_DIR,
            "MODEL_NAME": spec.model_name,
            "MODEL_VERSION": str(spec.model_version),
            "MLFLOW_TRACKING_URI": spec.tracking_uri,
            "MLFLOW_REGISTRY_URI": spec.tracking_uri,
            "PORT": str(spec.port),
            "ADMIN_PORT": str(admin_port),
            "HOST": "127.0.0.1",
            # Libraries' caches go to the container's in-memory /tmp (not the host's).
            "HOME": "/tmp",  # noqa: S108  # nosec B108
            **spec.extra_env,
        }

    def _volumes(self, spec: ReplicaSpec) -> dict[str, dict[str, str]]:
        """The registry (same path inside, so the URI and artifact paths hold) and the
        prediction log folder (what the monitor reads for drift). Not the whole state dir:
        its lock, audit log and webhook token are none of a replica's business.

        Artifacts live under ``mlflow/`` (the toolkit's experiments) or ``mlruns/``
        (MLflow's default for runs logged with the state dir as working directory)."""
        mounts: dict[str, dict[str, str]] = {}
        registry_dirs = {self.state / "mlflow", self.state / "mlruns"}
        if spec.tracking_uri.startswith("sqlite:///"):
            registry_dirs.add(Path(spec.tracking_uri[len("sqlite:///"):]).parent)
        for folder in sorted(registry_dirs):
            if folder.is_dir():
                mounts[str(folder)] = {"bind": str(folder), "mode": "rw"}
        predictions = self.state / "predictions"
        predictions.mkdir(parents=True, exist_ok=True)
        mounts[str(predictions)] = {"bind": f"{CONTAINER_STATE_DIR}/predictions", "mode": "rw"}
        return mounts

    def _wait_verified(self, fact: ReplicaFact, spec: ReplicaSpec, cid: str) -> str | None:
        """Poll the candidate's admin port until it passes every check; why it did not."""
        return health.wait_verified(fact.admin_port, spec, lambda: self._gone(cid))

    def _gone(self, cid: str) -> str | None:
        """Why the container stopped running (with its log tail), or None while it runs."""
        state = self._state(cid)
        return None if state == "running" else f"container {state}; log tail: {self._log_tail(cid)}"

    def _state(self, cid: str) -> str:
        try:
            return str(client().api.inspect_container(cid)["State"]["Status"])
        except not_found():
            return "gone"

    def _log_tail(self, cid: str, lines: int = 5) -> str:
        try:
            raw = client().api.logs(cid, tail=lines)
        except api_error():
            return "(no log)"
        return " | ".join(raw.decode(errors="replace").strip().splitlines())[-600:]

    def stop(self, fact: ReplicaFact) -> None:
        cid = fact.log  # a fact's ``log`` is its container name (``docker logs <name>``)
        for row in self._containers(fact.service):
            if row["Labels"].get(L_REPLICA) == fact.replica:
                cid = row["Id"]
                # Out of Prometheus first, so its disappearance is not an alert.
                self._write_targets(fact.service, without=fact.replica)
                self._remove(cid, graceful=row.get("State") == "running")
        self._write_targets(fact.service)

    def forget(self, fact: ReplicaFact) -> None:
        for row in self._containers(fact.service):
            if row["Labels"].get(L_REPLICA) == fact.replica:
                self._remove(row["Id"], graceful=False)
        self._write_targets(fact.service)

    def _remove(self, cid: str, *, graceful: bool) -> None:
        api = client(timeout_s=STOP_TIMEOUT_S + 30).api
        try:
            if graceful:
                api.stop(cid, timeout=STOP_TIMEOUT_S)
            api.remove_container(cid, force=True)
        except not_found():
            return
        except api_error() as exc:
            raise RuntimeActionError(f"cannot remove container {cid[:12]}: "
                                     f"{_one_line(exc)}") from None

    # ----------------------------------------------------------------- warm standby

    def standby(self, service: str) -> list[ReplicaFact]:
        return [_fact(row) for row in self._containers(service) if _is_standby(row)]

    def park(self, fact: ReplicaFact) -> bool:
        rows = [r for r in self._containers(fact.service)
                if r["Labels"].get(L_REPLICA) == fact.replica and r.get("State") == "running"]
        if not rows:
            return False
        row = rows[0]
        api = client().api
        api.kill(row["Id"], signal="SIGUSR1")
        deadline = time.monotonic() + PARK_TIMEOUT_S
        path = row["Labels"].get(L_HEALTH, "/health")
        while time.monotonic() < deadline:  # 503 once its public listener is closed
            status, _ = health.request(fact.admin_port, path)
            if status == 503:
                # Renamed only once closed: a runner killed half-way leaves a visible
                # (unhealthy) serving fact the next converge stops, never a hidden server.
                api.rename(row["Id"], f"{_name(row)}{STANDBY_MARK}{int(time.time())}")
                self._write_targets(fact.service)
                return True
            if self._state(row["Id"]) != "running":
                break
            time.sleep(0.05)
        self.stop(fact)
        return False

    def unpark(self, fact: ReplicaFact, spec: ReplicaSpec) -> ReplicaFact:
        rows = [r for r in self._containers(fact.service)
                if r["Labels"].get(L_REPLICA) == fact.replica]
        if not rows:
            raise HealthCheckFailed(f"{fact.replica} is gone")
        row = rows[0]
        api = client().api
        try:
            # Serving name first (see park), then the signal that reopens the listener.
            api.rename(row["Id"], _name(row).split(STANDBY_MARK)[0])
            api.kill(row["Id"], signal="SIGUSR2")
        except api_error() as exc:
            self.stop(fact)
            raise HealthCheckFailed(f"{fact.replica} cannot be unparked: "
                                    f"{_one_line(exc)}") from None
        problem = "not answering"
        deadline = time.monotonic() + UNPARK_BUDGET_S
        while time.monotonic() < deadline and self._state(row["Id"]) == "running":
            problem = health.verify(
                fact.admin_port, model_version=spec.model_version,
                health_path=spec.health_path, smoke_request=spec.smoke_request,
                timeout_s=max(spec.health_timeout_s, 5.0),
            ) or ""
            if not problem:
                self._write_targets(fact.service)
                return replace(fact, healthy=True, parked_at=0.0)
            time.sleep(0.05)
        self.stop(fact)
        raise HealthCheckFailed(f"{fact.replica} failed its checks after unpark: {problem}")

    # ----------------------------------------------------------------- prometheus

    def _write_targets(self, service: str, without: str = "") -> None:
        """file_sd targets as the local runtime writes them: every serving replica's admin
        port (host network: the same 127.0.0.1 address Prometheus already scrapes)."""
        facts = self.facts([service], check_health=False).get(service, [])
        groups = [{"targets": [f"127.0.0.1:{f.admin_port}"],
                   "labels": {"service": f.service, "replica": f.replica}}
                  for f in facts if f.running and f.replica != without]
        self.targets_dir.mkdir(parents=True, exist_ok=True)
        path = self.targets_dir / f"{service}.json"
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(groups, indent=1))
        os.replace(tmp, path)


def _name(row: dict[str, Any]) -> str:
    names = row.get("Names") or ["/?"]
    return str(names[0]).lstrip("/")


def _is_standby(row: dict[str, Any]) -> bool:
    return STANDBY_MARK in _name(row)


def _fact(row: dict[str, Any]) -> ReplicaFact:
    labels = row.get("Labels") or {}
    name = _name(row)
    parked_at = 0.0
    if STANDBY_MARK in name:
        try:
            parked_at = float(name.rsplit(STANDBY_MARK, 1)[1])
        except ValueError:
            parked_at = 1.0  # unreadable: treated as long expired
    return ReplicaFact(
        service=labels.get(L_SERVICE, "?"), replica=labels.get(L_REPLICA, name),
        pid=0, port=int(labels.get(L_PORT, 0)), admin_port=int(labels.get(L_ADMIN, 0)),
        spec_hash=labels.get(L_SPEC, ""), model_name=labels.get(L_MODEL, ""),
        model_version=int(labels.get(L_VERSION, 0)),
        started_at=float(labels.get(L_STARTED, 0.0)),
        running=row.get("State") == "running", log=name, parked_at=parked_at,
    )


def _one_line(exc: Exception) -> str:
    text = getattr(exc, "explanation", None) or str(exc)
    return " ".join(str(text).split())[:300]
