"""runtime: kubernetes is dry here (no cluster): the kubectl command lines a deploy would
run, checked against the rendered, strictly validated manifests they name."""

from __future__ import annotations

import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from runner.operations.desired import replica_spec
from runner.runtime import get_runtime
from runner.runtime.kube_commands import KubernetesRuntime, command_lines
from runner.spec import load_platform

REPO = Path(__file__).resolve().parents[2]
K8S_VERSION = "1.30"
NOT_IN_K8S_SCHEMAS = {"PrometheusRule"}  # a CRD (prometheus-operator): not in the schemas


def _spec(name: str):  # type: ignore[no-untyped-def]
    platform = load_platform(REPO, "dev")
    return replica_spec(platform, name, tracking_uri="sqlite:///unused"), platform


def test_telecom_command_lines_are_exact() -> None:
    spec, platform = _spec("telecom")
    replicas = platform.service("telecom").replicas
    apply, rollout = command_lines(REPO, "dev", spec, replicas)
    assert apply == ["kubectl", "apply", "--server-side", "--field-manager=mlgitops",
                     "-f", "generated/dev/k8s/telecom.yaml"]
    # retries 20 x interval 0.5 s + the model-loading allowance (150 s), one replica.
    assert rollout == ["kubectl", "rollout", "status", "deployment/telecom", "-n", "mlgitops",
                       "--timeout=160s"]


@pytest.mark.parametrize("service", ["bankchurn", "carvision", "telecom"])
def test_commands_name_every_manifest_and_the_validated_deployment(service: str) -> None:
    import kubernetes_validate

    spec, platform = _spec(service)
    apply, rollout = command_lines(REPO, "dev", spec, platform.service(service).replicas)
    named = [REPO / apply[i + 1] for i, part in enumerate(apply) if part == "-f"]
    assert named == [REPO / "generated" / "dev" / "k8s" / f"{service}.yaml"]  # all of it
    deployments = []
    for path in named:
        for doc in yaml.safe_load_all(path.read_text()):
            if doc["kind"] not in NOT_IN_K8S_SCHEMAS:
                kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
            if doc["kind"] == "Deployment":
                deployments.append(doc)
    (deployment,) = deployments
    meta = deployment["metadata"]
    assert rollout[3:6] == [f"deployment/{meta['name']}", "-n", meta["namespace"]]
    # The rollout wait covers the pods' own start: the startup and readiness probes.
    timeout = int(rollout[6].removeprefix("--timeout=").removesuffix("s"))
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    startup = container["startupProbe"]
    startup_s = startup["periodSeconds"] * startup["failureThreshold"]
    assert startup_s >= spec.start_budget_s  # as long as the other runtimes wait
    assert timeout + startup["periodSeconds"] > startup_s  # and kubectl waits that long
    assert "initialDelaySeconds" not in container["livenessProbe"]
    assert timeout >= container["readinessProbe"]["periodSeconds"] * \
        container["readinessProbe"]["failureThreshold"]


def test_kubectl_parses_the_command_lines_when_installed() -> None:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed (the command lines are checked above)")
    spec, _ = _spec("telecom")
    apply, _rollout = command_lines(REPO, "dev", spec, 1)
    proc = subprocess.run([kubectl, *apply[1:], "--dry-run=client", "-o", "name"], cwd=REPO,
                          capture_output=True, text=True, check=False)
    assert "unknown flag" not in proc.stderr, proc.stderr


def test_the_runtime_is_dry_and_prints_what_it_would_run() -> None:
    runtime = get_runtime("kubernetes", state=REPO / ".state", root=REPO)
    assert isinstance(runtime, KubernetesRuntime) and runtime.dry_run
    spec, _ = _spec("telecom")
    said: list[str] = []
    result = runtime.converge(spec, 1, progress=said.append)
    assert not result.changed
    assert said == [f"would run: {shlex.join(argv)}" for argv in
                    command_lines(REPO, "dev", spec, 1)]
    assert runtime.facts(["telecom"]) == {"telecom": []}  # nothing observed: plan says create
