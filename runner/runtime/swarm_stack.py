"""The Swarm runtime: each service is a Swarm service of one stack, deployed from the
rendered compose file with ``docker stack deploy``.

Swarm does the rolling replace itself: ``order: start-first`` starts the new task beside
the old one (both bind the public port with SO_REUSEPORT on the host network, each its
own free admin port), the container health check gates it, and ``failure_action:
rollback`` puts the previous task spec back when the new one never turns healthy. This
runtime therefore only says what is wanted and waits for the swarm's answer:

* facts: the stack's services and their tasks, read back from the swarm (a manager) alone.
  Each task's container labels carry the service, spec hash, model name and version, so a
  second checkout, or a runner on another manager, sees the same facts. A health-checked
  read also keeps Prometheus' targets file in step with the tasks (``swarm_targets``);
* converge: the compose file the specs render to *now* (handed in by the caller, since a
  runtime never renders), restricted to the one service, plus what this host adds (the
  image built for the spec hash, the registry mounts, the revision labels), written under
  the state dir and deployed with ``docker stack deploy``; then wait until the update
  completed healthy, or report the swarm's rollback as a failed deploy.

``inv rollback`` stays a GitOps rollback (the spec pinned back, committed, deployed like
any change), never ``docker service rollback``: git says what runs.

A task's health is the swarm's: a task is ``running`` only once its container passed its
health check (``starting`` before). The runner reads the service through its public port
(``admin_port`` in facts is the public port: each task's admin port is a free one only
its container knows), which is what the post-deploy watch scrapes.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from runner.errors import HealthCheckFailed, NotInstalled, PermanentError, TemporaryError
from runner.images.docker_client import MANAGED, api_error, client, label, not_found
from runner.runtime import swarm_targets
from runner.runtime.base import ConvergeResult, Progress, ReplicaFact, ReplicaSpec, Runtime
from runner.runtime.docker_engine import DockerRuntime

STACK_LABEL = "com.docker.stack.namespace"
L_SERVICE, L_SCOPE = label("service"), label("scope")
L_SPEC, L_MODEL, L_VERSION = label("spec-hash"), label("model-name"), label("model-version")
L_PORT = label("port")
FAILED_UPDATES = frozenset({"paused", "rollback_started", "rollback_paused",
                            "rollback_completed"})
BUSY_UPDATES = frozenset({"updating", "rollback_started"})
POLL_S = 0.5
REMOVE_WAIT_S = 60.0
DEPLOY_TIMEOUT_S = 300

ComposeSource = Callable[[], str]


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


class SwarmRuntime(Runtime):
    """Services of one stack (``mlgitops-<scope>``) on a swarm this engine manages."""

    name = "swarm"

    def __init__(self, state: Path, root: Path, environment: str = "dev",
                 compose: ComposeSource | None = None,
                 progress: Callable[[str], None] | None = None) -> None:
        self.state = state
        self.root = root
        self.environment = environment
        self.scope = os.environ.get("MLGITOPS_DOCKER_SCOPE") or environment
        self.stack = f"mlgitops-{self.scope}"
        self.compose = compose
        self.say = progress or _stderr
        # Images and mounts exactly as the Docker runtime makes them (one recipe).
        self.engine = DockerRuntime(state, root, environment, progress=self.say)
        # Prometheus' file_sd targets, where the other runtimes write theirs.
        self.targets_dir = state / "prometheus" / "config" / "targets"

    # ----------------------------------------------------------------- facts

    def _services(self, service: str | None = None) -> list[dict[str, Any]]:
        wanted = [f"{STACK_LABEL}={self.stack}", f"{MANAGED}=service"]
        if service is not None:
            wanted.append(f"{L_SERVICE}={service}")
        try:
            return list(client().api.services(filters={"label": wanted}))
        except api_error() as exc:
            raise TemporaryError(f"swarm: cannot list services ({_one_line(exc)}); is this "
                                 "engine a swarm manager? (docker swarm init "
                                 "--advertise-addr 127.0.0.1)") from None

    def _tasks(self, service_id: str) -> list[dict[str, Any]]:
        return list(client().api.tasks(filters={"service": service_id,
                                                "desired-state": "running"}))

    def facts(
        self, services: Iterable[str] | None = None, *, check_health: bool = True
    ) -> dict[str, list[ReplicaFact]]:
        wanted = None if services is None else list(services)
        rows = self._services(wanted[0] if wanted and len(wanted) == 1 else None)
        out: dict[str, list[ReplicaFact]] = {svc: [] for svc in wanted or []}
        for row in rows:
            name = row["Spec"]["Labels"].get(L_SERVICE, "")
            if wanted is not None and name not in wanted:
                continue
            facts = [task_fact(name, task) for task in self._tasks(row["ID"])]
            if check_health:
                facts = [self._container_health(f) for f in facts]
            out.setdefault(name, []).extend(sorted(facts, key=lambda f: f.started_at))
        if check_health:
            # The swarm starts and replaces tasks by itself: the toolkit's own reads
            # (plan, status, converge's wait) keep Prometheus' targets in step with it.
            # Not the quick reads (check_health=False: inv verify, remove) that only look.
            for name, found in out.items():
                swarm_targets.sync(self.targets_dir, name, found)
        return out

    def _container_health(self, fact: ReplicaFact) -> ReplicaFact:
        """A task's container on this node says its current health (the task state only
        changes when the swarm acts on it); on another node the task state stands."""
        if not fact.running or not fact.log:
            return fact
        try:
            state = client().api.inspect_container(fact.log)["State"]
        except not_found():
            return fact
        status = (state.get("Health") or {}).get("Status")
        if status in ("healthy", "unhealthy"):
            from dataclasses import replace

            return replace(fact, healthy=status == "healthy")
        return fact

    # ----------------------------------------------------------------- the stack file

    def rendered_service(self, service: str) -> tuple[dict[str, Any], dict[str, Any]]:
        """The compose file the specs render to now: (whole document, this service)."""
        if self.compose is not None:
            text = self.compose()
        else:  # no renderer handed in: the committed file (inv render --check keeps it true)
            path = self.root / "generated" / self.environment / "compose.yaml"
            if not path.is_file():
                raise PermanentError(f"{path.relative_to(self.root)} does not exist: run "
                                     f"`inv render --env {self.environment}`")
            text = path.read_text()
        doc = yaml.safe_load(text)
        try:
            return doc, dict(doc["services"][service])
        except (KeyError, TypeError):
            raise PermanentError(f"the rendered compose file has no service {service!r}: "
                                 "run `inv render`") from None

    def stack_file(self, spec: ReplicaSpec, replicas: int, image: str) -> dict[str, Any]:
        """The one-service stack file deployed for ``spec``: the rendered service, plus
        what this host adds (image for the spec hash, registry, labels, user)."""
        doc, svc = self.rendered_service(spec.service)
        env = {str(k): str(v) for k, v in (svc.get("environment") or {}).items()}
        if env.get("MODEL_VERSION") != str(spec.model_version) or \
                env.get("PORT") != str(spec.port):
            raise PermanentError(
                f"{spec.service}: the rendered compose file pins model v"
                f"{env.get('MODEL_VERSION')} on port {env.get('PORT')}, the spec v"
                f"{spec.model_version} on port {spec.port}: run `inv render`")
        # Swarm ignores both (it prints a warning for each); the host network is the
        # stack's default network in the rendered file.
        svc.pop("network_mode", None)
        svc.pop("depends_on", None)
        svc["image"] = image
        host_env = self.engine._environment(spec, "{{.Task.Name}}", 0)
        svc["environment"] = {**env, **host_env, "ADMIN_PORT": "0",
                              "MLGITOPS_REPLICA": "{{.Task.Name}}"}
        revision = {MANAGED: "replica", L_SCOPE: self.scope, L_SERVICE: spec.service,
                    L_SPEC: spec.spec_hash, L_MODEL: spec.model_name,
                    L_VERSION: str(spec.model_version), L_PORT: str(spec.port)}
        svc["labels"] = {**(svc.get("labels") or {}), **revision}  # on every task's container
        deploy = dict(svc.get("deploy") or {})
        deploy["replicas"] = replicas
        deploy["labels"] = {**(deploy.get("labels") or {}), **revision, MANAGED: "service"}
        svc["deploy"] = deploy
        # The invoking user, as a local replica: the state dir stays 0700.
        svc["user"] = f"{os.getuid()}:{os.getgid()}"
        svc["volumes"] = [{"type": "bind", "source": src, "target": opts["bind"]}
                          for src, opts in self.engine._volumes(spec).items()]
        stack: dict[str, Any] = {"version": doc.get("version", "3.8"),
                                 "services": {spec.service: svc}}
        if doc.get("networks"):
            stack["networks"] = doc["networks"]
        return stack

    def _write(self, service: str, stack: dict[str, Any]) -> Path:
        folder = self.state / "swarm" / self.stack
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = folder / f"{service}.yaml"
        tmp = path.with_suffix(".yaml.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(f"# docker stack deploy -c {path.name} {self.stack} (written by the "
                         "swarm runtime from the rendered compose file)\n")
            yaml.safe_dump(stack, handle, sort_keys=False)
        os.replace(tmp, path)
        return path

    # ----------------------------------------------------------------- actions

    def deploy_argv(self, path: Path, image: str) -> list[str]:
        """``docker stack deploy`` of one stack file. Images without a registry host are
        on this engine only: never resolved against a registry (a multi-node swarm needs
        them pushed, and named with the registry's address)."""
        docker = shutil.which("docker")
        if docker is None:
            raise NotInstalled("the docker command is missing (scripts/setup.sh installs "
                               "docker.io)")
        first = image.split("/", 1)[0]
        registry = "/" in image and ("." in first or ":" in first or first == "localhost")
        return [docker, "stack", "deploy", "--compose-file", str(path),
                "--resolve-image", "always" if registry else "never", self.stack]

    def converge(
        self, spec: ReplicaSpec, replicas: int, progress: Progress | None = None,
        current: list[ReplicaFact] | None = None,
    ) -> ConvergeResult:
        say = progress or self.say
        image = self.engine.image_for(spec)
        path = self._write(spec.service, self.stack_file(spec, replicas, image))
        before = {f.replica for f in (current if current is not None else
                                      self.facts([spec.service]).get(spec.service, []))}
        started = time.time()
        argv = self.deploy_argv(path, image)
        say(f"{spec.service}: {' '.join(argv[1:])}")
        proc = subprocess.run(argv, capture_output=True, text=True, check=False,
                              timeout=DEPLOY_TIMEOUT_S)
        if proc.returncode != 0:
            raise TemporaryError(f"{spec.service}: docker stack deploy failed: "
                                 f"{_tail(proc.stderr or proc.stdout)}")
        sick = [f for f in current or [] if f.revision == spec.revision and not f.ok]
        if sick:  # same spec, so the stack deploy changed nothing: restart its tasks
            self._force_update(spec.service)
            say(f"{spec.service}: forced a rolling restart ({len(sick)} task(s) not healthy)")
        live = self._wait(spec, replicas, started, say)
        now = {f.replica for f in live}
        return ConvergeResult(started=sorted(now - before), stopped=sorted(before - now),
                              kept=sorted(now & before))

    def _force_update(self, service: str) -> None:
        for row in self._services(service):
            client().services.get(row["ID"]).force_update()

    def _wait(self, spec: ReplicaSpec, replicas: int, since: float,
              say: Progress) -> list[ReplicaFact]:
        """Until the swarm's update completed with ``replicas`` healthy tasks at the spec's
        revision; HealthCheckFailed when the swarm rolled it back (or gave up)."""
        budget = spec.start_budget_s + 120  # plus the update's monitor window and delays
        deadline = time.monotonic() + budget
        last = "no task yet"
        while time.monotonic() < deadline:
            rows = self._services(spec.service)
            update = (rows[0].get("UpdateStatus") or {}) if rows else {}
            state = str(update.get("State", ""))
            ours = _timestamp(update.get("StartedAt")) >= since - 1
            if ours and state in FAILED_UPDATES:
                self._wait_settled(spec.service)
                self.facts([spec.service])  # targets of the tasks the rollback left
                message = str(update.get("Message", ""))
                why = task_failure(message.rsplit(" ", 1)[-1]) if "task" in message else ""
                raise HealthCheckFailed(
                    f"swarm {state.replace('_', ' ')} the update of {spec.service}: "
                    f"{message}".rstrip(": ") + (f" ({why})" if why else ""))
            facts = self.facts([spec.service]).get(spec.service, [])
            good = [f for f in facts if f.revision == spec.revision and f.running
                    and f.healthy]
            if len(good) == replicas == len(facts) and not (ours and state in BUSY_UPDATES):
                say(f"{spec.service}: {replicas} task(s) healthy at model "
                    f"v{spec.model_version} ({', '.join(f.replica for f in good)})")
                return facts
            now = f"{len(good)}/{replicas} healthy, update {state or 'n/a'}"
            if now != last:
                say(f"{spec.service}: {now}")
                last = now
            time.sleep(POLL_S)
        raise HealthCheckFailed(f"{spec.service}: not converged after {budget:.0f}s ({last})")

    def _wait_settled(self, service: str) -> None:
        """After a failed update: until the swarm's own rollback has finished."""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            rows = self._services(service)
            state = ((rows[0].get("UpdateStatus") or {}) if rows else {}).get("State")
            if state not in BUSY_UPDATES:
                return
            time.sleep(POLL_S)

    def remove(self, service: str, progress: Progress | None = None) -> list[str]:
        say = progress or self.say
        gone = [f.replica for f in self.facts([service], check_health=False).get(service, [])]
        for row in self._services(service):
            client().api.remove_service(row["ID"])
            say(f"removed swarm service {row['Spec']['Name']}")
        self._wait_gone(service)
        swarm_targets.sync(self.targets_dir, service, [])  # nothing left to scrape
        return gone

    def _wait_gone(self, service: str) -> None:
        """Until the removed service's containers stopped (they drain, then exit)."""
        wanted = {"label": [f"{L_SCOPE}={self.scope}", f"{L_SERVICE}={service}",
                            f"{MANAGED}=replica", f"{STACK_LABEL}={self.stack}"]}
        deadline = time.monotonic() + REMOVE_WAIT_S
        while time.monotonic() < deadline:
            if not client().api.containers(filters=wanted):
                return
            time.sleep(POLL_S)

    # A swarm schedules its tasks itself: there is no single replica to start or stop.

    def start(self, spec: ReplicaSpec) -> ReplicaFact:
        raise PermanentError("swarm: tasks are started by the swarm (converge deploys)")

    def stop(self, fact: ReplicaFact) -> None:
        raise PermanentError("swarm: tasks are stopped by the swarm (converge or remove)")

    def forget(self, fact: ReplicaFact) -> None:
        return None  # the swarm keeps (and prunes) its own task history


def task_fact(service: str, task: dict[str, Any]) -> ReplicaFact:
    """One swarm task as a replica fact (labels from the task's container spec)."""
    labels = task["Spec"]["ContainerSpec"].get("Labels") or {}
    status = task.get("Status") or {}
    state = str(status.get("State", ""))
    container = status.get("ContainerStatus") or {}
    port = int(labels.get(L_PORT, "0") or 0)
    return ReplicaFact(
        service=service,
        replica=f"{service}.{task.get('Slot', 0)}.{task['ID'][:10]}",
        pid=int(container.get("PID") or 0),
        port=port,
        admin_port=port,  # the service through its public port (see the module doc)
        spec_hash=labels.get(L_SPEC, ""),
        model_name=labels.get(L_MODEL, ""),
        model_version=int(labels.get(L_VERSION, "0") or 0),
        started_at=_timestamp(task.get("CreatedAt")),
        # starting: the container runs but has not passed its health check yet.
        running=state in ("running", "starting"),
        healthy=state == "running" if state in ("running", "starting") else None,
        log=str(container.get("ContainerID") or ""),
    )


def task_failure(task_id: str) -> str:
    """Why a task the swarm gave up on ended, in a few words: its error or state message,
    its exit code, and the last output of its container's health check while the
    container is still there ("" when the swarm no longer knows the task)."""
    try:
        task = client().api.inspect_task(task_id)
    except api_error():
        return ""
    status = task.get("Status") or {}
    parts = [str(status.get("Err") or status.get("Message") or status.get("State") or "")]
    container = status.get("ContainerStatus") or {}
    if container.get("ExitCode") and "exit" not in parts[0]:
        parts.append(f"exit code {container['ExitCode']}")
    if container.get("ContainerID"):
        try:
            state = client().api.inspect_container(container["ContainerID"])["State"]
        except api_error():
            state = {}
        # The newest check that said something (one cut short by the stop says nothing).
        said = [str(e.get("Output") or "").strip()
                for e in (state.get("Health") or {}).get("Log") or []]
        said = [text for text in said if text]
        if said:
            parts.append(f"last health check: {_tail(said[-1])}")
    return "; ".join(p for p in parts if p)


def _timestamp(value: object) -> float:
    """A swarm time (RFC 3339 with nanoseconds) as epoch seconds; 0 when absent."""
    if not value:
        return 0.0
    text = str(value).replace("Z", "+00:00")
    head, dot, rest = text.partition(".")
    if dot:  # Python parses at most microseconds
        digits = "".join(ch for ch in rest if ch.isdigit())
        text = f"{head}.{digits[:6]}{rest[len(digits):]}"
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        return 0.0


def _tail(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return " | ".join(lines[-3:])[-500:]


def _one_line(exc: Exception) -> str:
    return " ".join(str(exc).split())[:300]


def ensure_swarm(progress: Callable[[str], None] | None = None) -> bool:
    """A single-node swarm on this engine, advertised on 127.0.0.1 only; True when made now.

    The routing-mesh network (``ingress``, a private-range overlay) is removed: services
    here use the host network and publish no ports through the mesh."""
    say = progress or _stderr
    cli = client()
    if cli.info().get("Swarm", {}).get("LocalNodeState") == "active":
        return False
    cli.swarm.init(advertise_addr="127.0.0.1", listen_addr="127.0.0.1:2377")
    for net in cli.networks.list(names=["ingress"]):
        if net.name == "ingress":
            net.remove()
    say("swarm: initialised a single-node swarm on 127.0.0.1 (ingress network removed)")
    return True
