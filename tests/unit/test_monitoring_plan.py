"""The monitoring component: plan against the staged copy, stage exactly, explain each change.

Real renders of the dev specs into a temporary state directory; no daemon runs here (the
reload itself is proven live in tests/integration/test_monitoring_reconcile.py).
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from runner.reconcile.monitoring import apply_monitoring, plan_monitoring, rendered
from runner.runtime import daemons
from runner.runtime import monitoring_config as config
from runner.spec import load_platform
from runner.spec.models import Platform

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def platform() -> Platform:
    return load_platform(ROOT, "dev")


def with_critical(platform: Platform, service: str, kind: str, value: float) -> Platform:
    svc = platform.services[service]
    threshold = getattr(svc.alerts, kind).model_copy(update={"critical": value})
    alerts = svc.alerts.model_copy(update={kind: threshold})
    services = {**platform.services, service: svc.model_copy(update={"alerts": alerts})}
    return platform.model_copy(update={"services": services})


def test_nothing_staged_plans_nothing(platform: Platform, tmp_path: Path) -> None:
    assert plan_monitoring(platform, tmp_path) == []


def test_staged_as_rendered_is_a_noop_that_says_so(platform: Platform, tmp_path: Path) -> None:
    files = rendered(platform)
    assert set(files) == {"alertmanager/alertmanager.yml", "prometheus/prometheus.yml",
                          "prometheus/rules/bankchurn.yml", "prometheus/rules/carvision.yml",
                          "prometheus/rules/telecom.yml"}
    config.stage(tmp_path, files)
    (step,) = plan_monitoring(platform, tmp_path)
    assert step.kind == "noop"
    assert step.reason.startswith("monitoring config is as rendered (3 rule files, digest ")
    assert config.staged(tmp_path) == files


def test_a_threshold_change_is_named_old_to_new(platform: Platform, tmp_path: Path) -> None:
    config.stage(tmp_path, rendered(platform))
    changed = with_critical(platform, "bankchurn", "error_rate", 0.2)
    (step,) = plan_monitoring(changed, tmp_path)
    assert step.kind == "replace"
    assert step.reason == "rules changed: BankchurnErrorRateCritical 0.05 -> 0.2"
    assert step.before["digest"] != step.after["digest"]


def test_many_changes_are_summarised(platform: Platform, tmp_path: Path) -> None:
    config.stage(tmp_path, rendered(platform))
    changed = platform
    for name in ("bankchurn", "carvision", "telecom"):
        changed = with_critical(changed, name, "latency_p99_s", 9)
    changed = with_critical(changed, "telecom", "error_rate", 0.1)
    (step,) = plan_monitoring(changed, tmp_path)
    assert step.reason == ("rules changed: BankchurnLatencyP99Critical 5 -> 9, "
                           "CarvisionLatencyP99Critical 5 -> 9, "
                           "TelecomErrorRateCritical 0.05 -> 0.1 (+1 more)")


def test_a_removed_service_drops_its_rule_file(platform: Platform, tmp_path: Path) -> None:
    config.stage(tmp_path, rendered(platform))
    targets = tmp_path / "prometheus" / "config" / "targets" / "telecom.json"
    targets.parent.mkdir(parents=True)
    targets.write_text("[]")  # the runtime's file: never touched
    fewer = platform.model_copy(update={"services": {
        k: v for k, v in platform.services.items() if k != "telecom"}})
    (step,) = plan_monitoring(fewer, tmp_path)
    assert step.reason == ("rules changed: -TelecomCpuCritical, -TelecomCpuWarning, "
                           "-TelecomDriftShareCritical (+7 more); prometheus.yml changed")
    config.stage(tmp_path, rendered(fewer))
    assert not (tmp_path / "prometheus" / "config" / "rules" / "telecom.yml").exists()
    assert targets.read_text() == "[]"
    assert plan_monitoring(fewer, tmp_path)[0].kind == "noop"


def test_a_config_change_outside_the_rules_is_named(platform: Platform, tmp_path: Path) -> None:
    files = rendered(platform)
    files["alertmanager/alertmanager.yml"] += "# edited by hand\n"
    config.stage(tmp_path, files)
    (step,) = plan_monitoring(platform, tmp_path)
    assert step.reason == "alertmanager.yml changed"


def test_apply_stages_and_reloads_nothing_that_does_not_run(
    platform: Platform, tmp_path: Path
) -> None:
    config.stage(tmp_path, rendered(platform))
    changed = with_critical(platform, "bankchurn", "error_rate", 0.2)
    (step,) = plan_monitoring(changed, tmp_path)
    env = SimpleNamespace(platform=changed, state=tmp_path)
    ok, msg = apply_monitoring(env, step.after)  # type: ignore[arg-type]
    assert ok, msg
    assert msg == "staged 5 files; prometheus not running, alertmanager not running"
    assert plan_monitoring(changed, tmp_path)[0].kind == "noop"
    # Apply executes the plan it was given: a plan made for other specs is refused.
    ok, msg = apply_monitoring(SimpleNamespace(platform=platform, state=tmp_path),
                               step.after)  # type: ignore[arg-type]
    assert not ok and msg.endswith("plan again")


def test_reload_never_signals_daemons_that_a_sighup_would_kill(tmp_path: Path) -> None:
    mlflow = daemons.Daemon("mlflow", ["mlflow"], 5000, "/health")
    assert not daemons.reload(tmp_path, mlflow)
    assert not daemons.reload(tmp_path, daemons.Daemon("prometheus", [], 9090, "/-/healthy"))


def test_config_hash_is_alertmanagers() -> None:
    # md5 of the bytes, its first six bytes little-endian (alertmanager_config_hash); the
    # live comparison is in tests/integration/test_monitoring_reconcile.py.
    assert config.config_hash("") == float(int.from_bytes(
        bytes.fromhex("d41d8cd98f00"), "little"))
