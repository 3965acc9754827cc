"""Runtimes behind one facts/actions interface; ``get_runtime`` picks one from the platform.

``local`` runs replicas as processes, ``docker`` as containers of one engine
(runner.runtime.docker_engine: facts from container labels, start/stop through the SDK),
``swarm`` as services of one stack (runner.runtime.swarm_stack: ``docker stack deploy`` of
the rendered compose file), ``kubernetes`` prints the kubectl command lines it would run
(runner.runtime.kube_commands: no cluster here).
A new runtime subclasses ``runner.runtime.base.Runtime`` and registers here; reconcile
and the playbook modules need no change.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from runner.errors import NotInstalled
from runner.runtime.base import ConvergeResult, ReplicaFact, ReplicaSpec, Runtime

__all__ = ["ConvergeResult", "ReplicaFact", "ReplicaSpec", "Runtime", "get_runtime"]


def get_runtime(kind: str, *, state: Path, root: Path, environment: str = "dev",
                compose: Callable[[], str] | None = None) -> Runtime:
    """The runtime named in ``platform.yaml`` (``runtime:``); ``environment`` picks the
    rendered files a container runtime builds from and scopes the containers it sees.
    ``compose``: the compose file the specs render to now (Swarm deploys it; a runtime
    never renders, so the caller hands the renderer in)."""
    if kind == "local":
        from runner.runtime.local import LocalRuntime

        return LocalRuntime(state, root)
    if kind == "docker":
        from runner.runtime.docker_engine import DockerRuntime

        return DockerRuntime(state, root, environment)
    if kind == "swarm":
        from runner.runtime.swarm_stack import SwarmRuntime

        return SwarmRuntime(state, root, environment, compose=compose)
    if kind == "kubernetes":
        from runner.runtime.kube_commands import KubernetesRuntime

        return KubernetesRuntime(state, root, environment)
    raise NotInstalled(f"runtime {kind!r} is not implemented (local, docker, swarm, "
                       "kubernetes)")
