"""The rendered artifacts pass the real tools that will consume them.

promtool (config, rules, rule unit tests), amtool, docker-compose and strict
kubernetes-validate run on the committed generated/dev/, on fresh renders of every other
environment, and on a render with unusual thresholds. The promtool unit tests are also shown
to have teeth: a rule whose threshold no longer matches its spec makes them fail.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from runner.render import render_all, write
from runner.spec import known_environments, load_platform
from runner.spec.models import Platform

ROOT = Path(__file__).resolve().parents[2]
DEV = ROOT / "generated" / "dev"
K8S_VERSION = "1.30"
# CRDs have no schema in kubernetes-validate's bundle; promtool checks the same rules instead.
NOT_IN_K8S_SCHEMAS = {"PrometheusRule": "a prometheus-operator CRD (checked by promtool)"}

pytestmark = pytest.mark.integration


def tool(name: str) -> str:
    path = shutil.which(name)
    assert path, f"{name} is not installed (apt-get install prometheus prometheus-alertmanager "
    "docker-compose; .ci/run does this)"
    return path


def run(argv: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, env=env, check=False)


def assert_ok(proc: subprocess.CompletedProcess[str]) -> None:
    assert proc.returncode == 0, f"{proc.args}\n{proc.stdout}\n{proc.stderr}"


def check_all(out: Path) -> None:
    """Every tool on one rendered directory."""
    rules = sorted(str(p) for p in (out / "prometheus" / "rules").glob("*.yml"))
    tests = sorted(str(p) for p in (out / "prometheus" / "tests").glob("*.yml"))
    assert rules and len(rules) == len(tests)
    # file_sd target files are written by the runtime, so they are absent here: a warning only.
    proc = run([tool("promtool"), "check", "config", str(out / "prometheus" / "prometheus.yml")])
    assert_ok(proc)
    assert f"SUCCESS: {len(rules)} rule files found" in proc.stdout + proc.stderr
    assert_ok(run([tool("promtool"), "check", "rules", *rules]))
    proc = run([tool("promtool"), "test", "rules", *tests])
    assert_ok(proc)
    assert proc.stdout.count("SUCCESS") == len(tests)
    assert_ok(run([tool("amtool"), "check-config", str(out / "alertmanager" / "alertmanager.yml")]))
    env = {**os.environ, "GRAFANA_ADMIN_PASSWORD": "test-only-not-a-secret"}
    assert_ok(run([tool("docker-compose"), "-f", str(out / "compose.yaml"), "config", "-q"], env))
    check_k8s(out)


def check_k8s(out: Path) -> None:
    import kubernetes_validate

    manifests = sorted((out / "k8s").rglob("*.yaml"))
    assert manifests
    checked = 0
    for path in manifests:  # one file per service, a document per object
        for doc in yaml.safe_load_all(path.read_text()):
            if doc["kind"] in NOT_IN_K8S_SCHEMAS:
                continue
            kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
            checked += 1
    assert checked == len(manifests) * 5  # 5 of the 6 objects of each service


def test_committed_dev_artifacts_pass_every_tool() -> None:
    check_all(DEV)


def test_compose_refuses_to_run_without_the_grafana_password() -> None:
    env = {k: v for k, v in os.environ.items() if k != "GRAFANA_ADMIN_PASSWORD"}
    proc = run([tool("docker-compose"), "-f", str(DEV / "compose.yaml"), "config", "-q"], env)
    assert proc.returncode != 0
    assert "GRAFANA_ADMIN_PASSWORD" in proc.stderr


def test_strict_kubernetes_validation_rejects_an_unknown_field() -> None:
    import kubernetes_validate

    (doc,) = [d for d in yaml.safe_load_all((DEV / "k8s" / "bankchurn.yaml").read_text())
              if d["kind"] == "Deployment"]
    doc["spec"]["replicaz"] = 2
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


@pytest.mark.parametrize("env", [e for e in known_environments(ROOT) if e != "dev"])
def test_other_environments_pass_every_tool(env: str, tmp_path: Path) -> None:
    write(tmp_path, env, render_all(load_platform(ROOT, env)))
    check_all(tmp_path / "generated" / env)


def _unusual(platform: Platform) -> Platform:
    """Odd thresholds, limits and hold times: the test generator must still hit them exactly."""
    data = platform.model_dump()
    svc = data["services"]["bankchurn"]
    svc["resources"] = {"cpu": 0.3, "memory_mb": 333}
    svc["alerts"] = {
        "error_rate": {"warning": 0.0123, "critical": 0.0123, "for_s": 90},
        "latency_p99_s": {"warning": 0.25, "critical": 0.7, "for_s": 0},
        "cpu": {"warning": 0.333, "critical": 0.95, "for_s": 45},
        "memory": {"warning": 0.5, "critical": 0.777, "for_s": 300},
        "drift_share": {"warning": 0.1, "critical": 0.9, "for_s": 60},
    }
    return Platform.model_validate(data)


def test_generated_rule_tests_hit_unusual_thresholds_exactly(tmp_path: Path) -> None:
    files = render_all(_unusual(load_platform(ROOT, "dev")))
    write(tmp_path, "dev", files)
    out = tmp_path / "generated" / "dev"
    assert_ok(
        run([tool("promtool"), "check", "rules", str(out / "prometheus/rules/bankchurn.yml")])
    )
    proc = run([tool("promtool"), "test", "rules", str(out / "prometheus/tests/bankchurn.yml")])
    assert_ok(proc)


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (">= 0.05'", ">= 0.0502'"),  # threshold raised: the at-threshold case must notice
        (">= 0.05'", ">= 0.0499'"),  # threshold lowered: the just-below case must notice
        ("for: 1m", "for: 3m"),  # hold time changed: alerts are still pending at eval time
    ],
)
def test_rule_tests_fail_when_a_rule_drifts_from_its_spec(
    old: str, new: str, tmp_path: Path
) -> None:
    shutil.copytree(DEV / "prometheus", tmp_path / "prometheus")
    rules = tmp_path / "prometheus" / "rules" / "bankchurn.yml"
    text = rules.read_text()
    assert old in text
    rules.write_text(text.replace(old, new))
    proc = run(
        [tool("promtool"), "test", "rules", str(tmp_path / "prometheus/tests/bankchurn.yml")]
    )
    assert proc.returncode != 0
    assert "FAILED" in proc.stdout + proc.stderr


def test_inv_render_check_names_the_rule_after_a_threshold_edit(tmp_path: Path) -> None:
    from runner.render.render_command import render_command

    root = tmp_path / "repo"
    shutil.copytree(ROOT / "specs", root / "specs")
    shutil.copytree(ROOT / "generated", root / "generated")
    shutil.copytree(ROOT / ".github", root / ".github")  # render --check covers the workflows
    (root / "projects").symlink_to(ROOT / "projects")
    shutil.copy(ROOT / "tasks.py", root / "tasks.py")
    assert render_command("dev", check_only=True, root=root) == 0

    spec = root / "specs" / "services" / "bankchurn.yaml"
    text = spec.read_text()
    assert "error_rate:    {warning: 0.01, critical: 0.05}" in text
    spec.write_text(text.replace("critical: 0.05}", "critical: 0.07}", 1))
    env = {**os.environ, "MLGITOPS_ROOT": str(root)}
    inv = [str(ROOT / ".venv" / "bin" / "inv"), "--search-root", str(root), "render", "--check"]
    proc = run(inv, env)  # the real command line, exit code and output
    assert proc.returncode == 1
    assert "+++ b/generated/dev/prometheus/rules/bankchurn.yml" in proc.stdout
    assert "    - alert: BankchurnErrorRateCritical" in proc.stdout  # hunk context names the rule
    assert "+      expr: 'sum(rate(mlservice_requests_total" in proc.stdout
    assert ">= 0.07'" in proc.stdout
    assert "generated/dev/prometheus/rules/bankchurn.yml: differs" in proc.stderr
    # --check wrote nothing; a plain render makes the check pass again.
    rel = "generated/dev/prometheus/rules/bankchurn.yml"
    assert (root / rel).read_text() == (ROOT / rel).read_text()
    assert render_command("dev", root=root) == 0
    assert render_command("dev", check_only=True, root=root) == 0
