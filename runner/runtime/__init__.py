"""Runtimes behind one facts/actions interface; ``get_runtime`` picks one from the platform.

``local`` runs replicas as processes, ``docker`` as containers of one engine
(runner.runtime.docker_engine: facts from container labels, start/stop through the SDK).
A new runtime subclasses ``runner.runtime.base.Runtime`` and registers here; reconcile
and the playbook modules need no change.
"""

from __future__ import annotations

from pathlib import Path

from runner.errors import NotInstalled
from runner.runtime.base import ConvergeResult, ReplicaFact, ReplicaSpec, Runtime

__all__ = ["ConvergeResult", "ReplicaFact", "ReplicaSpec", "Runtime", "get_runtime"]


def get_runtime(kind: str, *, state: Path, root: Path, environment: str = "dev") -> Runtime:
    """The runtime named in ``platform.yaml`` (``runtime:``); ``environment`` picks the
    rendered files a container runtime builds from and scopes the containers it sees."""
    if kind == "local":
        from runner.runtime.local import LocalRuntime

        return LocalRuntime(state, root)
    if kind == "docker":
        from runner.runtime.docker_engine import DockerRuntime

        return DockerRuntime(state, root, environment)
    raise NotInstalled(f"runtime {kind!r} is not implemented yet (local, docker)")
