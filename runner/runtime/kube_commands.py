"""``runtime: kubernetes``: the exact kubectl command lines a deploy runs, printed, not run.

No cluster exists where this toolkit is developed, so this runtime is *dry*: facts are
empty (nothing observed), and a converge prints what it would run instead of running it:

    kubectl apply --server-side --field-manager=mlgitops -f <each rendered manifest>
    kubectl rollout status deployment/<service> -n <namespace> --timeout=<budget>s

The manifests are the rendered ``generated/<env>/k8s/<service>.yaml`` (one multi-document
file per service, each object validated
strictly against the Kubernetes schemas by the render tests); server-side apply makes the
cluster merge them field by field with one field manager, so a rerun is a no-op and a field
another manager owns is a conflict, not a silent overwrite. The rollout wait is the spec's
start budget per replica (one new pod at a time: ``maxSurge: 1, maxUnavailable: 0``).
"""

from __future__ import annotations

import math
import shlex
import sys
from collections.abc import Callable, Iterable
from pathlib import Path

import yaml

from runner.errors import PermanentError
from runner.runtime.base import ConvergeResult, Progress, ReplicaFact, ReplicaSpec, Runtime

FIELD_MANAGER = "mlgitops"
KUBECTL = "kubectl"


def manifest_file(root: Path, environment: str, service: str) -> Path:
    return root / "generated" / environment / "k8s" / f"{service}.yaml"


def manifests(root: Path, environment: str, service: str) -> list[Path]:
    """The rendered manifests of ``service`` (one file of every object it needs)."""
    path = manifest_file(root, environment, service)
    if not path.is_file():
        raise PermanentError(f"{path.relative_to(root)} is missing: run "
                             f"`inv render --env {environment}`")
    return [path]


def deployment_of(files: Iterable[Path], service: str) -> tuple[str, str]:
    """(name, namespace) of the Deployment among ``files`` that serves ``service``."""
    for path in files:
        for doc in yaml.safe_load_all(path.read_text()):
            if isinstance(doc, dict) and doc.get("kind") == "Deployment":
                meta = doc.get("metadata") or {}
                return str(meta["name"]), str(meta.get("namespace", "default"))
    raise PermanentError(f"no Deployment among the rendered manifests of {service}")


def apply_argv(files: Iterable[Path], root: Path) -> list[str]:
    """``kubectl apply --server-side`` of every manifest (paths relative to the root)."""
    argv = [KUBECTL, "apply", "--server-side", f"--field-manager={FIELD_MANAGER}"]
    for path in files:
        argv += ["-f", str(path.relative_to(root))]
    return argv


def rollout_timeout_s(spec: ReplicaSpec, replicas: int) -> int:
    return math.ceil(spec.start_budget_s * max(1, replicas))


def rollout_argv(deployment: str, namespace: str, timeout_s: int) -> list[str]:
    return [KUBECTL, "rollout", "status", f"deployment/{deployment}", "-n", namespace,
            f"--timeout={timeout_s}s"]


def command_lines(root: Path, environment: str, spec: ReplicaSpec,
                  replicas: int) -> list[list[str]]:
    """The commands a deploy of ``spec`` runs, in order."""
    files = manifests(root, environment, spec.service)
    name, namespace = deployment_of(files, spec.service)
    return [apply_argv(files, root),
            rollout_argv(name, namespace, rollout_timeout_s(spec, replicas))]


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


class KubernetesRuntime(Runtime):
    """Dry: observes nothing, prints the kubectl command lines a converge would run."""

    name = "kubernetes"
    dry_run = True

    def __init__(self, state: Path, root: Path, environment: str = "dev",
                 progress: Callable[[str], None] | None = None) -> None:
        self.state = state
        self.root = root
        self.environment = environment
        self.say = progress or _stderr

    def would_run(self, spec: ReplicaSpec, replicas: int) -> list[str]:
        return [shlex.join(argv) for argv in
                command_lines(self.root, self.environment, spec, replicas)]

    def facts(
        self, services: Iterable[str] | None = None, *, check_health: bool = True
    ) -> dict[str, list[ReplicaFact]]:
        return {svc: [] for svc in services or []}

    def converge(
        self, spec: ReplicaSpec, replicas: int, progress: Progress | None = None,
        current: list[ReplicaFact] | None = None,
    ) -> ConvergeResult:
        say = progress or self.say
        for line in self.would_run(spec, replicas):
            say(f"would run: {line}")
        return ConvergeResult()

    def start(self, spec: ReplicaSpec) -> ReplicaFact:
        raise PermanentError("kubernetes: pods are started by the cluster (dry runtime)")

    def stop(self, fact: ReplicaFact) -> None:
        raise PermanentError("kubernetes: pods are stopped by the cluster (dry runtime)")

    def forget(self, fact: ReplicaFact) -> None:
        return None
