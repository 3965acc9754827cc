"""The ports the platform needs, and which of them another program holds.

Shared by ``inv up`` (a pre-check: fail with one line before anything starts) and
``inv doctor`` (the same finding, with the fix). "Ours" are the processes this state
directory started: replicas (serving or parked) and platform daemons, with their children
(MLflow's gunicorn workers hold its socket).
"""

from __future__ import annotations

from dataclasses import dataclass

from runner.commands.status import mlflow_daemon, monitoring_daemons
from runner.errors import TemporaryError
from runner.operations import Env
from runner.runtime import daemons, health
from runner.runtime.ports import Listener, foreign


@dataclass(frozen=True)
class Needed:
    port: int
    owner: str  # the service or daemon that needs it
    health_path: str  # a daemon found answering here is reused, as daemons.ensure does
    spec_file: str  # where the port is set

    def taken_line(self, who: Listener) -> str:
        return f"port {self.port} ({self.owner}) is taken by {who.describe()}"

    def fix(self, who: Listener) -> str:
        stop = f"stop it (kill {who.pid})" if who.pid else "stop that program"
        return f"{stop}, or set another port for {self.owner} in {self.spec_file}"


def needed_ports(env: Env, services: list[str] | None = None) -> list[Needed]:
    """Every port ``inv up`` listens on (only ``services``' when given, and no daemons)."""
    out = [Needed(svc.port, name, "", f"specs/services/{name}.yaml")
           for name, svc in sorted(env.platform.services.items())
           if services is None or name in services]
    if services is None:
        p = env.platform.platform
        mon = p.monitoring
        out += [Needed(p.mlflow.port, "mlflow", "/health", "specs/platform.yaml"),
                Needed(mon.exporter.port, "monitor", "/health", "specs/platform.yaml"),
                Needed(mon.prometheus.port, "prometheus", "/-/healthy", "specs/platform.yaml"),
                Needed(mon.alertmanager.port, "alertmanager", "/-/healthy",
                       "specs/platform.yaml")]
    return out


def our_pids(env: Env) -> set[int]:
    """Pids of the replicas and daemons this state directory started."""
    pids: set[int] = set()
    facts = env.runtime.facts(None, check_health=False)
    for name in set(facts) | set(env.platform.services):
        pids |= {f.pid for f in facts.get(name, []) if f.running}
        pids |= {f.pid for f in env.runtime.standby(name) if f.running}
    pids |= env.runtime.host_pids()  # a container's first process (docker facts lack pids)
    for daemon in [mlflow_daemon(env), *monitoring_daemons(env)]:
        pid = daemons.status(env.state, daemon).pid
        if pid:
            pids.add(pid)
    pids.discard(1)  # never count init as ours: it is everybody's ancestor
    return pids


def taken_ports(env: Env, services: list[str] | None = None
                ) -> list[tuple[Needed, Listener]]:
    """Needed ports held by a program that is not ours (a daemon port answering its health
    check is not counted: ``inv up`` reuses a running MLflow or Prometheus)."""
    ours = our_pids(env)
    found = []
    for need in needed_ports(env, services):
        who = foreign(need.port, ours)
        if who is None:
            continue
        if need.health_path and health.healthy(need.port, need.health_path, timeout_s=1.0):
            continue
        found.append((need, who))
    return found


def refuse_taken_ports(env: Env, services: list[str] | None = None) -> None:
    """``inv up``'s pre-check: raise with one line naming the program and pid."""
    taken = taken_ports(env, services)
    if taken:
        need, who = taken[0]
        more = f" (and {len(taken) - 1} more: inv doctor)" if len(taken) > 1 else ""
        raise TemporaryError(f"{need.taken_line(who)}: {need.fix(who)}{more}")
