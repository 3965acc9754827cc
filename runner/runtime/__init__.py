"""Runtimes behind one facts/actions interface; ``get_runtime`` picks one from the platform.

Only ``local`` exists today. A ``docker`` or ``swarm`` runtime subclasses
``runner.runtime.base.Runtime`` (facts from container labels, start/stop through the
engine) and registers here; reconcile and the playbook modules need no change.
"""

from __future__ import annotations

from pathlib import Path

from runner.errors import NotInstalled
from runner.runtime.base import ConvergeResult, ReplicaFact, ReplicaSpec, Runtime

__all__ = ["ConvergeResult", "ReplicaFact", "ReplicaSpec", "Runtime", "get_runtime"]


def get_runtime(kind: str, *, state: Path, root: Path) -> Runtime:
    """The runtime named in ``platform.yaml`` (``runtime:``)."""
    if kind == "local":
        from runner.runtime.local import LocalRuntime

        return LocalRuntime(state, root)
    raise NotInstalled(f"runtime {kind!r} is not implemented yet (only 'local')")
