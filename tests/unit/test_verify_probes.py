"""The comparisons behind `inv verify`, on plain data (runner.verify.probes)."""

from __future__ import annotations

from pathlib import Path

import yaml

from runner import contract
from runner.verify import probes
from runner.verify.verify_report import _detail  # noqa: F401 - the plugin imports cleanly

ROOT = Path(__file__).resolve().parents[2]


def test_process_user_expected_owner_and_root_refusal() -> None:
    assert probes.process_user("root", "root", non_root=False) == []
    assert probes.process_user("root", "root", non_root=True) == [
        "runs as root (verify.non_root is set)"]
    assert probes.process_user("alice", "mlgitops", non_root=True) == [
        "runs as alice, expected mlgitops"]
    assert probes.process_user(None, "root", non_root=False) == ["process not running"]


def test_listen_addresses_refuse_all_interfaces_unless_asked() -> None:
    socks = ["tcp://127.0.0.1:8001", "tcp://0.0.0.0:9001", "tcp://127.0.0.1:22"]
    assert probes.listen_addresses(socks, 8001, "127.0.0.1") == []
    assert probes.listen_addresses(socks, 9001, "127.0.0.1") == [
        "port 9001 listens on 0.0.0.0 (all interfaces), expected 127.0.0.1"]
    assert probes.listen_addresses(socks, 9001, "0.0.0.0") == []  # noqa: S104
    assert probes.listen_addresses(socks, 8002, "127.0.0.1") == ["nothing listens on port 8002"]


def test_metric_names_finds_histograms_by_base_name() -> None:
    text = "\n".join(f"# TYPE {n} gauge\n{n} 1" for n in contract.SERVICE_METRICS[1:])
    assert probes.metric_names(text, contract.SERVICE_METRICS) == [
        f"/metrics lacks {contract.SERVICE_METRICS[0]}"]


def test_rendered_rules_and_prometheus_answer_share_a_checksum() -> None:
    rendered = probes.rendered_groups(ROOT / "generated" / "dev" / "prometheus" / "rules")
    # What Prometheus' /api/v1/rules answers for the same file: name, query, duration (s).
    live_groups = [{"name": g["name"], "rules": [
        {"name": r["alert"], "query": r["expr"].replace(" >= ", " >= "),
         "duration": probes._seconds(r["for"]), "labels": r["labels"],
         "annotations": r["annotations"], "type": "alerting"} for r in g["rules"]]}
        for g in rendered]
    assert probes.loaded_rules(rendered, {"data": {"groups": live_groups}}) == []
    live_groups[0]["rules"][1]["query"] = "up >= 0.2"  # a threshold changed behind our back
    problem = probes.loaded_rules(rendered, {"data": {"groups": live_groups}})
    assert len(problem) == 1 and rendered[0]["rules"][1]["alert"] in problem[0]


def test_staged_rule_edit_is_named(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    for d in ("a", "b"):
        (tmp_path / d / "x.yml").write_text(yaml.safe_dump({"groups": []}))
    assert probes.same_files(probes.file_digests(tmp_path / "a"),
                             probes.file_digests(tmp_path / "b"), "staged") == []
    (tmp_path / "b" / "x.yml").write_text("groups: [] # edited\n")
    assert probes.same_files(probes.file_digests(tmp_path / "a"),
                             probes.file_digests(tmp_path / "b"), "the staged rule file") == [
        "x.yml: the staged rule file differs from generated/ (edited by hand?)"]


def test_lock_is_the_serving_requirements_pins() -> None:
    pins = probes.lock_pins((ROOT / "runner" / "serving" / "requirements.txt").read_text())
    assert pins["scikit-learn"] == "1.9.1" and pins["mlflow-skinny"]
    assert probes.packages_match({"scikit-learn": "1.9.1"}, {"scikit-learn": "1.8.0"}) == [
        "scikit-learn 1.8.0 installed, lock pins 1.9.1"]
    assert probes.packages_match({"a": "1"}, {}) == ["a not installed (lock: 1)"]


def test_private_mode() -> None:
    assert probes.private_mode(0o40700, ".state", directory=True) == []
    assert probes.private_mode(0o40755, ".state", directory=True) == [
        ".state is 0o755, readable by others (want 0700)"]
