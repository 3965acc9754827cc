"""The committed specs load into the values the runbook and the team contract fix."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from runner.commands.validate import validate_command
from runner.errors import SpecError
from runner.spec import Platform, known_environments, load_platform
from runner.spec.merge import deep_merge, merge_values
from runner.spec.spec_yaml import Pos, Positions, load_yaml

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def dev() -> Platform:
    return load_platform(REPO, "dev")


def test_environments_are_the_three_overlays() -> None:
    assert known_environments(REPO) == ["dev", "prod", "staging"]


def test_services_ports_models_and_gates(dev: Platform) -> None:
    got = {
        name: (s.port, s.model.name, s.model.version, s.gate.metric, s.gate.min, s.task)
        for name, s in dev.services.items()
    }
    assert got == {
        "bankchurn": (8001, "bankchurn-model", 1, "roc_auc", 0.85, "classification"),
        "carvision": (8002, "carvision-model", 1, "r2", 0.75, "regression"),
        "telecom": (8003, "telecom-model", 1, "roc_auc", 0.80, "classification"),
    }
    for name, spec in dev.services.items():
        assert spec.project == f"projects/{name}"
        assert spec.image == f"mlgitops/{name}:latest"


def test_runbook_thresholds(dev: Platform) -> None:
    for spec in dev.services.values():
        a = spec.alerts
        assert (a.error_rate.warning, a.error_rate.critical) == (0.01, 0.05)
        assert (a.latency_p99_s.warning, a.latency_p99_s.critical) == (2, 5)
        assert (a.cpu.warning, a.cpu.critical) == (0.70, 0.90)
        assert (a.memory.warning, a.memory.critical) == (0.80, 0.95)
        assert (a.drift_share.warning, a.drift_share.critical) == (0.30, 0.50)
        assert (spec.retrain.drift_share, spec.retrain.metric_drop) == (0.50, 0.05)


def test_platform_values(dev: Platform) -> None:
    p = dev.platform
    assert (p.environment, p.runtime) == ("dev", "local")
    assert (p.mlflow.host, p.mlflow.port) == ("127.0.0.1", 5000)
    m = p.monitoring
    ports = (m.prometheus.port, m.alertmanager.port, m.exporter.port, m.grafana.port)
    assert ports == (9090, 9093, 9108, 3000)
    assert m.grafana.admin_password.env == "GRAFANA_ADMIN_PASSWORD"
    assert {s.type for s in p.notifications} == {"file", "webhook"}
    actions = {(a.alert, a.playbook) for a in p.alert_actions}
    assert ("drift_share", "retrain") in actions
    assert ("error_rate", "rollback") in actions
    assert all(a.within_deploy_window_s for a in p.alert_actions if a.playbook == "rollback")
    # The runbook's maintenance window everywhere; no freeze in dev (it would refuse
    # every deploy at month end), the runbook's month-end freeze in staging and prod.
    assert [w.cron for w in p.maintenance.windows] == ["0 2 * * sun#1"]
    assert p.maintenance.freeze == []
    for env in ("staging", "prod"):
        freeze = load_platform(REPO, env).platform.maintenance.freeze
        assert [(w.name, w.duration_min) for w in freeze] == [("month-end", 1440)]
    assert (p.maintenance.retention_days, p.maintenance.watch_s) == (30, 3600)


def test_overlays_raise_replicas_and_keep_the_rest() -> None:
    dev, staging, prod = (load_platform(REPO, e) for e in ("dev", "staging", "prod"))
    assert staging.environment == "staging" and prod.platform.environment == "prod"
    for name in dev.services:
        assert dev.services[name].replicas == 1
        assert staging.services[name].replicas == 2
        assert prod.services[name].replicas == 3
        # the overlay sets resources, the alert table comes from the base file untouched
        assert prod.services[name].resources.memory_mb == 1024
        assert prod.services[name].alerts == dev.services[name].alerts
    # a nested overlay key leaves its siblings alone
    assert prod.platform.monitoring.grafana == dev.platform.monitoring.grafana
    assert prod.platform.monitoring.scrape_interval_s == 10


def test_deep_merge_dicts_merge_lists_and_scalars_replace() -> None:
    base = {"a": {"x": 1, "y": [1, 2]}, "b": 1, "keep": {"k": 1}}
    over = {"a": {"y": [3]}, "b": {"now": "dict"}, "new": 2}
    assert merge_values(base, over) == {
        "a": {"x": 1, "y": [3]},
        "b": {"now": "dict"},
        "keep": {"k": 1},
        "new": 2,
    }
    assert base["a"] == {"x": 1, "y": [1, 2]}  # inputs untouched


def test_deep_merge_takes_overlay_positions_for_replaced_subtrees(tmp_path: Path) -> None:
    (tmp_path / "base.yaml").write_text("a:\n  x: 1\n  y: [1, 2]\n")
    (tmp_path / "over.yaml").write_text("a:\n  y: [3]\n")
    base, bpos, _ = load_yaml(tmp_path / "base.yaml", "base.yaml")
    over, opos, _ = load_yaml(tmp_path / "over.yaml", "over.yaml")
    _, pos = deep_merge(base, bpos, over, opos)
    assert pos.locate(("a", "x")) == Pos("base.yaml", 2, 6)
    assert pos.locate(("a", "y")) == Pos("over.yaml", 2, 6)
    assert pos.locate(("a", "y", 0)) == Pos("over.yaml", 2, 7)
    assert ("a", "y", 1) not in pos.values  # the base list's second item is gone
    assert isinstance(pos, Positions)


def test_aliases_and_merge_keys_are_refused_with_their_position(tmp_path: Path) -> None:
    # Anchors and aliases can expand a small file into gigabytes (issue 13 item 10), and
    # merge keys need them; specs spell values out.
    (tmp_path / "a.yaml").write_text("d: &d {x: 1}\ne:\n  <<: *d\n  y: 2\n")
    data, pos, problems = load_yaml(tmp_path / "a.yaml", "a.yaml")
    assert data is None
    assert [(p.pos, p.message) for p in problems] == [
        (Pos("a.yaml", 3, 7), "YAML aliases are not allowed (*d): write the value out")
    ]
    (tmp_path / "b.yaml").write_text("e:\n  <<: {x: 1}\n")
    _, _, problems = load_yaml(tmp_path / "b.yaml", "b.yaml")
    assert [(p.pos, p.message) for p in problems] == [
        (Pos("b.yaml", 2, 3), "YAML merge keys (<<) are not allowed: write the keys out")
    ]


def test_alias_bomb_in_a_service_spec_is_one_line(tmp_path: Path) -> None:
    root = _good_tree(tmp_path)
    lines = ["a: &a [x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 9):
        prev = "a" if i == 1 else f"l{i - 1}"
        lines.append(f"l{i}: &l{i} [" + ", ".join([f"*{prev}"] * 9) + "]")
    (root / "specs/services/bankchurn.yaml").write_text("\n".join(lines) + "\n")
    with pytest.raises(SpecError) as info:
        load_platform(root, "dev")
    assert info.value.one_line() == (
        "specs/services/bankchurn.yaml:2:10: YAML aliases are not allowed (*a): write the value out"
    )


def test_self_referencing_alias_is_one_line(tmp_path: Path) -> None:
    root = _good_tree(tmp_path)
    (root / "specs/services/bankchurn.yaml").write_text("name: &a [*a]\n")
    with pytest.raises(SpecError) as info:
        load_platform(root, "dev")
    assert info.value.one_line() == (
        "specs/services/bankchurn.yaml:1:11: YAML aliases are not allowed (*a): write the value out"
    )


def test_cached_parse_gives_the_same_platform_and_errors(tmp_path: Path) -> None:
    root = _good_tree(tmp_path)
    cache = tmp_path / "cache"
    first = load_platform(root, "staging", cache_dir=cache)
    assert (cache / "specs.jsonl").is_file()
    assert load_platform(root, "staging", cache_dir=cache) == first
    assert first == load_platform(root, "staging")
    # Errors found in cached files still point at their lines (the file is read again).
    spec = root / "specs/services/telecom.yaml"
    spec.write_text(spec.read_text().replace("port: 8003", "port: 8001"))
    errors = []
    for cache_dir in (None, cache):
        with pytest.raises(SpecError) as info:
            load_platform(root, "dev", cache_dir=cache_dir)
        errors.append(info.value.one_line())
    assert errors[0] == errors[1]
    assert ":4:7 port: port 8001 is already used" in errors[0]


def _good_tree(tmp_path: Path) -> Path:
    shutil.copytree(REPO / "specs", tmp_path / "specs")
    for name in ("bankchurn", "carvision", "telecom"):
        fixtures = tmp_path / "projects" / name / "tests" / "fixtures"
        fixtures.mkdir(parents=True)
        (fixtures / "sample_request.json").write_text("{}\n")
    return tmp_path


def test_validate_command_summary(capsys: pytest.CaptureFixture[str]) -> None:
    assert validate_command("prod", root=REPO) == "ok: 3 services, environment prod"
    assert capsys.readouterr().out == "ok: 3 services, environment prod\n"


def test_missing_platform_file_is_reported(tmp_path: Path) -> None:
    shutil.copytree(REPO / "specs", tmp_path / "specs")
    for name in ("bankchurn", "carvision", "telecom"):
        fixtures = tmp_path / "projects" / name / "tests" / "fixtures"
        fixtures.mkdir(parents=True)
        (fixtures / "sample_request.json").write_text("{}\n")
    (tmp_path / "specs" / "platform.yaml").unlink()
    with pytest.raises(SpecError) as info:
        load_platform(tmp_path)
    assert info.value.one_line() == "specs/platform.yaml: file is missing"


def test_alert_kinds_agree_everywhere() -> None:
    from typing import get_args

    from runner.spec.models import ALERT_KINDS, AlertAction, AlertsSpec

    assert tuple(AlertsSpec.model_fields) == ALERT_KINDS
    assert get_args(AlertAction.model_fields["alert"].annotation) == ALERT_KINDS
