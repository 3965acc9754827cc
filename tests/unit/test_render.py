"""render_all, write and check: determinism, headers, parseability, stale-file detection, errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from runner.errors import RenderError, SpecError
from runner.render import check, render_all, write
from runner.render.render_command import render_command
from runner.render.template_env import render_template
from runner.spec import load_platform
from runner.spec.models import Platform

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def platform() -> Platform:
    return load_platform(ROOT, "dev")


@pytest.fixture(scope="module")
def files(platform: Platform) -> dict[str, str]:
    return render_all(platform)


def test_render_is_byte_identical_and_sorted(platform: Platform, files: dict[str, str]) -> None:
    again = render_all(platform)
    assert again == files
    assert list(files) == sorted(files)


def test_every_artifact_is_present(files: dict[str, str]) -> None:
    expected = {
        "compose.yaml",
        "prometheus/prometheus.yml",
        "alertmanager/alertmanager.yml",
        "grafana/provisioning/datasources/prometheus.yaml",
        "grafana/provisioning/dashboards/mlgitops.yaml",
        "grafana/dashboards/service-overview.json",
        "grafana/dashboards/ml-metrics.json",
        "grafana/dashboards/infrastructure.json",
        "grafana/dashboards/business-kpis.json",
    }
    for svc in ("bankchurn", "carvision", "telecom"):
        expected |= {f"prometheus/rules/{svc}.yml", f"prometheus/tests/{svc}.yml"}
        expected.add(f"k8s/{svc}.yaml")  # every Kubernetes object of the service, one stream
        expected |= {f"docker/{svc}/Dockerfile", f"docker/{svc}/Dockerfile.dockerignore"}
    assert set(files) == expected


def k8s_object(files: dict[str, str], service: str, kind: str) -> dict:
    """The one object of ``kind`` in the service's rendered Kubernetes file."""
    (found,) = [doc for doc in yaml.safe_load_all(files[f"k8s/{service}.yaml"])
                if doc["kind"] == kind]
    return found


def test_a_services_kubernetes_file_holds_each_object_once_configmap_first(
        files: dict[str, str]) -> None:
    for svc in ("bankchurn", "carvision", "telecom"):
        kinds = [doc["kind"] for doc in yaml.safe_load_all(files[f"k8s/{svc}.yaml"])]
        assert kinds == ["ConfigMap", "Deployment", "Service", "HorizontalPodAutoscaler",
                         "PodDisruptionBudget", "PrometheusRule"]


def test_every_file_says_generated_and_parses(files: dict[str, str]) -> None:
    for path, text in files.items():
        if path.endswith(".json"):
            doc = json.loads(text)
            assert "do not edit" in doc["__generated"], path
            assert doc["description"] == doc["__generated"]
        elif path.startswith("docker/"):
            # A Dockerfile's parser directive must stay on line 1; the header follows it.
            lines = text.splitlines()
            head = lines[1] if lines[0].startswith("# syntax=") else lines[0]
            assert head.startswith("# Generated from specs/") and "do not edit" in head, path
        else:
            first = text.splitlines()[0]
            assert first.startswith("# Generated from specs/") and "do not edit" in first, path
            assert all(yaml.safe_load_all(text)), path  # every document (k8s: one per object)
        assert text.endswith("\n") and not text.endswith("\n\n"), path


def test_service_files_name_their_own_spec(files: dict[str, str]) -> None:
    head = files["prometheus/rules/bankchurn.yml"].splitlines()[0]
    assert "specs/services/bankchurn.yaml" in head
    assert "specs/environments/dev.yaml" in head


def test_compose_never_defaults_the_grafana_password(files: dict[str, str]) -> None:
    compose = yaml.safe_load(files["compose.yaml"])
    env = compose["services"]["grafana"]["environment"]
    assert env["GF_SECURITY_ADMIN_PASSWORD"].startswith("${GRAFANA_ADMIN_PASSWORD:?")
    assert "admin" not in env["GF_SECURITY_ADMIN_PASSWORD"].split(":?")[0]
    for name, svc in compose["services"].items():
        assert svc["network_mode"] == "host", name
        assert "healthcheck" in svc and "deploy" in svc, name
    update = compose["services"]["bankchurn"]["deploy"]["update_config"]
    assert update["order"] == "start-first" and update["failure_action"] == "rollback"


def test_prometheus_scrapes_replicas_from_file_sd(files: dict[str, str]) -> None:
    config = yaml.safe_load(files["prometheus/prometheus.yml"])
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert jobs["mlservice-bankchurn"]["file_sd_configs"][0]["files"] == ["targets/bankchurn.json"]
    assert jobs["mlgitops-runner"]["static_configs"][0]["targets"] == ["127.0.0.1:9108"]
    assert {"mlflow", "prometheus", "alertmanager"} <= set(jobs)
    assert config["rule_files"] == ["rules/*.yml"]
    assert config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] == [
        "127.0.0.1:9093"
    ]


def test_rules_cover_every_threshold_and_severity(
    platform: Platform, files: dict[str, str]
) -> None:
    groups = yaml.safe_load(files["prometheus/rules/bankchurn.yml"])["groups"]
    rules = {r["alert"]: r for r in groups[0]["rules"]}
    assert len(rules) == 10
    critical = rules["BankchurnErrorRateCritical"]
    spec = platform.services["bankchurn"].alerts.error_rate
    assert critical["expr"].endswith(f">= {spec.critical:g}")
    assert critical["labels"] == {
        "kind": "error_rate",
        "service": "bankchurn",
        "severity": "critical",
    }
    assert critical["annotations"]["runbook"] == "docs/runbook.md#error-rate"
    assert rules["BankchurnMemoryWarning"]["expr"].endswith("/ (512 * 1024 * 1024) >= 0.8")
    # The k8s PrometheusRule carries exactly the same group.
    crd = k8s_object(files, "bankchurn", "PrometheusRule")
    assert crd["spec"]["groups"] == groups


def test_alertmanager_routes_by_severity_to_the_runner(files: dict[str, str]) -> None:
    config = yaml.safe_load(files["alertmanager/alertmanager.yml"])
    routes = {tuple(r["matchers"]): r["receiver"] for r in config["route"]["routes"]}
    assert routes == {
        ('severity="critical"',): "runner-critical",
        ('severity="warning"',): "runner-warning",
    }
    urls = {c["url"] for r in config["receivers"] for c in r["webhook_configs"]}
    assert urls == {"http://127.0.0.1:9108/alerts"}


def test_service_dashboards_are_pinned_to_their_service(files: dict[str, str]) -> None:
    cm = k8s_object(files, "carvision", "ConfigMap")
    assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert set(cm["data"]) == {
        "service-overview.json",
        "ml-metrics.json",
        "infrastructure.json",
        "business-kpis.json",
    }
    overview = json.loads(cm["data"]["service-overview.json"])
    assert overview["uid"] == "carvision-service-overview"
    assert overview["templating"]["list"][0]["query"] == "carvision"
    assert "specs/services/carvision.yaml" in overview["description"]
    assert "@@" not in files["k8s/carvision.yaml"]


# ------------------------------------------------------------------ write and check


def test_write_then_check_is_clean_and_detects_every_difference(
    tmp_path: Path, files: dict[str, str]
) -> None:
    write(tmp_path, "dev", files)
    assert check(tmp_path, "dev", files).ok
    out = tmp_path / "generated" / "dev"
    rules = out / "prometheus/rules/bankchurn.yml"
    rules.write_text(rules.read_text().replace(">= 0.05", ">= 0.5"))
    (out / "k8s/bankchurn.yaml").unlink()
    (out / "k8s/old-service").mkdir()
    (out / "k8s/old-service/deployment.yaml").write_text("kind: Deployment\n")
    result = check(tmp_path, "dev", files)
    assert result.changed == ["generated/dev/prometheus/rules/bankchurn.yml"]
    assert result.missing == ["generated/dev/k8s/bankchurn.yaml"]
    assert result.extra == ["generated/dev/k8s/old-service/deployment.yaml"]
    assert "-      expr: " in result.diff and ">= 0.5'" in result.diff
    assert "no spec produces this file" in result.summary()
    # write() converges: rewrites, recreates, removes the stray file and its directory.
    touched = write(tmp_path, "dev", files)
    assert len(touched) == 3
    assert check(tmp_path, "dev", files).ok
    assert not (out / "k8s/old-service").exists()
    assert write(tmp_path, "dev", files) == []


def test_committed_generated_dev_is_up_to_date(capsys: pytest.CaptureFixture[str]) -> None:
    assert render_command("dev", check_only=True, root=ROOT) == 0
    assert "up to date" in capsys.readouterr().out


# ------------------------------------------------------------------ template errors


def _templates(tmp_path: Path, text: str) -> str:
    (tmp_path / "t.j2").write_text(text)
    return str(tmp_path)


def test_undefined_variable_names_template_and_line(tmp_path: Path) -> None:
    folder = _templates(tmp_path, "line one\n{{ svc.name }}\nline three {{ nope }}\n")
    with pytest.raises(RenderError) as info:
        render_template("t.j2", {"svc": {"name": "x"}}, folder)
    assert info.value.one_line().startswith("templates/t.j2:3: UndefinedError: 'nope' is undefined")


def test_syntax_error_names_template_and_line(tmp_path: Path) -> None:
    folder = _templates(tmp_path, "ok\n{% for x in y %}\nno endfor\n")
    with pytest.raises(RenderError) as info:
        render_template("t.j2", {"y": []}, folder)
    assert info.value.one_line().startswith("templates/t.j2:")
    assert "TemplateSyntaxError" in info.value.one_line()


def test_sandbox_blocks_python_internals(tmp_path: Path) -> None:
    folder = _templates(tmp_path, "{{ ''.__class__.__mro__[1].__subclasses__() }}\n")
    with pytest.raises(RenderError):
        render_template("t.j2", {}, folder)


@pytest.mark.parametrize(
    "expr",
    ["svc.__class__", "svc.spec.__class__.__init__", "svc._verdicts", "svc.healthcheck.__class__"],
)
def test_fast_attribute_path_still_refuses_private_attributes(
    tmp_path: Path, platform: Platform, expr: str
) -> None:
    from runner.render.context import service_view
    from runner.render.template_env import environment

    folder = _templates(tmp_path, "{{ " + expr + " }}\n")
    env = environment(folder)
    view = service_view(platform, platform.services["bankchurn"])
    env.plain_types = frozenset({type(view), type(view.spec)})  # type: ignore[attr-defined]
    with pytest.raises(RenderError):
        render_template("t.j2", {"svc": view}, folder)
    # ...while public data still reads through the fast path.
    (tmp_path / "ok.j2").write_text("{{ svc.name }} {{ svc.spec.port }}\n")
    assert render_template("ok.j2", {"svc": view}, folder) == "bankchurn 8001\n"


# ------------------------------------------------------------------ the command


def _copy_repo(tmp_path: Path) -> Path:
    """specs/ and generated/ copied (editable), projects/ linked (only its paths are checked)."""
    import shutil

    root = tmp_path / "repo"
    shutil.copytree(ROOT / "specs", root / "specs")
    shutil.copytree(ROOT / "generated", root / "generated")
    (root / "projects").symlink_to(ROOT / "projects")
    return root


def test_invalid_spec_writes_nothing(tmp_path: Path) -> None:
    root = _copy_repo(tmp_path)
    import shutil

    shutil.rmtree(root / "generated" / "dev")
    spec = root / "specs/services/bankchurn.yaml"
    spec.write_text(spec.read_text().replace("replicas: 1", "replicas: 0"))
    with pytest.raises(SpecError) as info:
        render_command("dev", root=root)
    assert "specs/services/bankchurn.yaml:" in info.value.one_line()
    assert not (root / "generated" / "dev").exists()


def test_stray_environment_directory_fails_check(tmp_path: Path) -> None:
    root = _copy_repo(tmp_path)
    (root / "generated" / "qa").mkdir()
    (root / "generated" / "qa" / "compose.yaml").write_text("x: 1\n")
    assert render_command("dev", check_only=True, root=root) == 1


# ------------------------------------------------------------------ promtool test generation


@pytest.mark.parametrize("for_s", [0, 45, 60, 300])
def test_every_alert_is_proven_firing_pending_and_silent(platform: Platform, for_s: int) -> None:
    from runner.render.alert_rules import service_alerts
    from runner.render.alert_tests import PER_SERIES_KINDS, service_test_groups

    data = platform.services["bankchurn"].model_dump()
    for threshold in data["alerts"].values():
        threshold["for_s"] = for_s
    spec = type(platform.services["bankchurn"]).model_validate(data)
    rules = service_alerts(spec)
    groups = service_test_groups(spec, rules)
    for rule in rules:
        checks = [(g, c) for g in groups for c in g.checks if c.alert == rule]
        assert any(c.firing for _, c in checks), rule.name
        below = f"{rule.kind} below the {rule.severity} threshold"
        below_case = ("instance", f"below-{rule.severity}")
        group = next(g for g in groups if any(t.startswith(below) for t in g.titles))
        for item in (c for g, c in checks if g is group):
            if rule.kind in PER_SERIES_KINDS:
                assert all(below_case not in labels for labels in item.firing), rule.name
            else:
                assert item.firing == [], rule.name
        if for_s:
            # One evaluation before activation + for: the at-threshold input is only pending.
            firing_at = min(int(c.eval_time[:-1]) for _, c in checks if c.firing)
            early = [c for _, c in checks if int(c.eval_time[:-1]) == firing_at - 1]
            assert early and all(
                ("instance", f"at-{rule.severity}") not in labels
                for c in early
                for labels in c.firing
            ), rule.name
            if rule.kind not in PER_SERIES_KINDS:
                assert all(c.firing == [] for c in early), rule.name


@pytest.mark.parametrize("scaling, replicas, ceiling", [
    (None, 1, 3),  # no capacity plan: room for three times the desired count
    (None, 2, 6),
    ({"min": 1, "max": 4}, 2, 4),  # the plan's ceiling, which `inv scale` also keeps
    ({"min": 2, "max": 2}, 2, 2),
])
def test_the_autoscaler_keeps_inside_the_specs_scaling_bounds(
        platform: Platform, scaling: dict[str, int] | None, replicas: int, ceiling: int) -> None:
    data = platform.model_dump(exclude_unset=True)
    svc = data["services"]["bankchurn"]
    svc["replicas"] = replicas
    if scaling is not None:
        svc["scaling"] = scaling
    hpa = k8s_object(render_all(Platform.model_validate(data)), "bankchurn",
                     "HorizontalPodAutoscaler")
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (replicas, ceiling)
