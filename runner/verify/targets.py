"""What ``inv verify`` checks, derived from the specs and the runtime's facts.

The testinfra suite (``tests/infra/``) is parametrized by these targets, so a service
added to ``specs/services/`` is verified without writing a test: every desired service,
every replica the runtime knows of, every platform component the specs name.
"""

from __future__ import annotations

import getpass
import os
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from runner import contract
from runner.operations.workspace import Env
from runner.verify.backend import (
    CONTAINER_RUNTIMES,
    platform_host,
    replica_admin_port,
    replica_host,
    replica_pid,
)

# Where the pinned serving packages live: the lock ``inv verify`` compares installs with.
LOCK_FILE = Path(__file__).resolve().parents[1] / "serving" / "requirements.txt"
# The interpreter of a service image: the venv templates/docker/Dockerfile.j2 installs the
# lock into (and puts first on the image's PATH).
IMAGE_PYTHON = "/opt/venv/bin/python"


@dataclass(frozen=True)
class ReplicaTarget:
    """One replica the runtime reports, with what it must look like."""

    service: str
    replica: str
    pid: int
    running: bool
    port: int  # public port (shared by the service's replicas)
    admin_port: int  # private port: /health, /model_info, /metrics
    pinned_version: int  # the spec's model.version
    host: str  # testinfra host spec reaching this replica

    @property
    def id(self) -> str:
        return f"{self.service}/{self.replica}"


@dataclass(frozen=True)
class ServiceTarget:
    service: str
    port: int
    replicas: int  # desired
    model_name: str
    pinned_version: int
    health_path: str


@dataclass(frozen=True)
class Component:
    """A platform daemon that must answer: MLflow, Prometheus, Alertmanager."""

    name: str
    url: str
    path: str
    required: bool  # False: not installed here (verify says so instead of failing)


@dataclass(frozen=True)
class Interpreter:
    """A Python that serves replicas, whose installed packages must match the lock."""

    name: str  # "platform" (this machine's toolkit venv) or the replica whose image it is
    host: str  # testinfra host spec that runs its pip
    python: str


@dataclass
class Targets:
    root: str
    environment: str
    runtime: str
    state: str
    tracking_uri: str
    host: str  # testinfra host spec of the platform (state dir, packages, daemons)
    user: str  # expected owner of every process
    non_root: bool
    listen: str
    lock_file: str
    python: str  # the toolkit's interpreter (what local replicas run on)
    prometheus_url: str
    scrape_interval_s: int
    generated_rules: str  # generated/<env>/prometheus/rules
    staged_rules: str  # what Prometheus reads: <state>/prometheus/config/rules
    service_metrics: list[str] = field(default_factory=list)
    services: list[ServiceTarget] = field(default_factory=list)
    replicas: list[ReplicaTarget] = field(default_factory=list)
    components: list[Component] = field(default_factory=list)
    interpreters: list[Interpreter] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def invoking_user() -> str:
    """The user running the toolkit: the default owner of the processes it starts."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return str(os.getuid())


def gather(env: Env, service: str | None = None) -> Targets:
    """Targets of one environment (optionally one service) from specs and runtime facts."""
    from runner.errors import PermanentError

    plat = env.platform.platform
    names = sorted(env.platform.services)
    if service is not None:
        if service not in env.platform.services:
            raise PermanentError(f"{service} is not in the specs ({', '.join(names)})")
        names = [service]
    facts = env.runtime.facts(names, check_health=False)
    mon = plat.monitoring
    targets = Targets(
        root=str(env.root), environment=env.environment, runtime=plat.runtime,
        state=str(env.state), tracking_uri=env.tracking_uri,
        host=platform_host(env.platform), user=plat.verify.user or invoking_user(),
        non_root=plat.verify.non_root, listen=plat.verify.listen, lock_file=str(LOCK_FILE),
        python=sys.executable,
        prometheus_url=f"http://{mon.prometheus.host}:{mon.prometheus.port}",
        scrape_interval_s=mon.scrape_interval_s,
        generated_rules=str(env.root / "generated" / env.environment / "prometheus" / "rules"),
        staged_rules=str(env.state / "prometheus" / "config" / "rules"),
        service_metrics=list(contract.SERVICE_METRICS),
    )
    for name in names:
        svc = env.platform.service(name)
        targets.services.append(ServiceTarget(name, svc.port, svc.replicas, svc.model.name,
                                              svc.model.version, svc.health.path))
        for fact in facts.get(name, []):
            targets.replicas.append(ReplicaTarget(
                service=name, replica=fact.replica, pid=replica_pid(env.platform, fact),
                running=fact.running,
                port=fact.port, admin_port=replica_admin_port(env.platform, fact),
                pinned_version=svc.model.version,
                host=replica_host(env.platform, fact),
            ))
    targets.interpreters = interpreters(targets)
    prometheus_installed, alertmanager_installed = _installed("prometheus", "alertmanager")
    targets.components = [
        Component("mlflow", f"http://{plat.mlflow.host}:{plat.mlflow.port}", "/health", True),
        Component("prometheus", targets.prometheus_url, "/-/ready", prometheus_installed),
        Component("alertmanager", f"http://{mon.alertmanager.host}:{mon.alertmanager.port}",
                  "/-/ready", alertmanager_installed),
    ]
    return targets


def interpreters(targets: Targets) -> list[Interpreter]:
    """Where the serving packages are compared with the lock: the toolkit's venv for the
    local runtime (replicas are its processes); each running replica's image for a
    container runtime (the toolkit's venv serves nothing there, and an image built before
    the lock changed keeps its old packages)."""
    if targets.runtime not in CONTAINER_RUNTIMES or targets.host != "local://":
        return [Interpreter("platform", targets.host, targets.python)]
    return [Interpreter(r.id, r.host, IMAGE_PYTHON) for r in targets.replicas if r.running]


def _installed(*names: str) -> list[bool]:
    """Whether each daemon can run here (``inv up`` skips one that is not installed)."""
    from runner.errors import NotInstalled
    from runner.runtime import daemons

    makers = {"prometheus": daemons.prometheus_daemon,
              "alertmanager": daemons.alertmanager_daemon}
    found = []
    for name in names:
        try:
            makers[name](Path("/nonexistent"), 1)  # only looks the binary up
        except NotInstalled:
            found.append(False)
        else:
            found.append(True)
    return found
