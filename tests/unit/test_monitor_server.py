"""The monitor process end to end over HTTP (real server on a free port, real state store)."""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from runner import contract
from runner.errors import PermanentError
from runner.monitor import audit_access as store
from runner.monitor import drift_gauge
from runner.monitor.dispatcher import Context
from runner.monitor.server import MonitorServer, make_server, serve_in_thread
from runner.monitor.webhook_token import read_token
from runner.spec import load_platform
from runner.state.state_store import SUCCESS, StateStore

ROOT = Path(__file__).resolve().parents[2]
SECRET_URL_TOKEN = "s3cr3t-token-abc"  # noqa: S105 - a fake, to prove it never leaks


class _Sink(BaseHTTPRequestHandler):
    received: list[dict[str, Any]] = []

    def do_POST(self) -> None:  # noqa: N802
        body = self.rfile.read(int(self.headers["Content-Length"]))
        _Sink.received.append(json.loads(body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture()
def webhook_sink(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[dict[str, Any]]]:
    _Sink.received = []
    server = HTTPServer(("127.0.0.1", 0), _Sink)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}/hook/{SECRET_URL_TOKEN}"
    monkeypatch.setenv("MLGITOPS_WEBHOOK_URL", url)
    yield _Sink.received
    server.shutdown()
    server.server_close()


@pytest.fixture()
def monitor(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, Context]]:
    state = tmp_path / "state"
    monkeypatch.setenv("MLGITOPS_STATE_DIR", str(state))
    (tmp_path / "playbooks").mkdir()
    # The real specs, with the repository root moved to a temp dir we control (playbooks).
    platform = load_platform(ROOT, "dev").model_copy(update={"root": str(tmp_path)})
    ctx = Context(platform, state)
    server: MonitorServer = make_server(ctx, "127.0.0.1", 0)
    serve_in_thread(server)
    yield f"http://127.0.0.1:{server.server_address[1]}", ctx
    server.shutdown()
    server.server_close()


def _auth(state: Path) -> dict[str, str]:
    return {"Authorization": f"Bearer {read_token(state)}"}


def _post(url: str, ctx: Context, payload: Any) -> httpx.Response:
    """POST a payload as Alertmanager does: JSON, with the bearer token."""
    return httpx.post(f"{url}/alerts", json=payload, headers=_auth(ctx.state), timeout=5)


def _actions(ctx: Context, fingerprint: str) -> list[dict[str, Any]]:
    """The procedure decisions of the audit log for one alert, oldest first."""
    return [
        {"outcome": e["outcome"], **e["detail"]}
        for e in store.events("alert.procedure.", state=ctx.state)
        if e["detail"].get("fingerprint") == fingerprint
        and e["action"] != store.PROCEDURE_FINISHED
    ]


def _scrape(url: str) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    text = httpx.get(f"{url}/metrics", timeout=5).text
    out: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return out


def _payload(name: str, service: str, severity: str, starts: str, status: str = "firing",
             fingerprint: str = "fp-1") -> dict[str, Any]:
    return {
        "version": "4", "status": status, "receiver": "runner", "groupKey": "{}",
        "alerts": [{
            "status": status, "fingerprint": fingerprint, "startsAt": starts,
            "endsAt": "0001-01-01T00:00:00Z",
            "labels": {"alertname": name, "service": service, "severity": severity},
            "annotations": {"summary": f"{name} on {service}"},
        }],
    }


def test_metrics_expose_only_contract_names(monitor: tuple[str, Context]) -> None:
    url, ctx = monitor
    drift_gauge.set("bankchurn", 0.62)
    db = StateStore(ctx.state)
    db.add_revision("bankchurn", spec_hash="h1", model_name="bankchurn-model", model_version=3,
                    actor="t", reason="deploy", outcome=SUCCESS)
    db.audit("reconcile", actor="t", outcome="success", duration_s=4.2)
    db.audit("reconcile", actor="t", outcome="failed", duration_s=0.7)
    db.db.execute("INSERT INTO crashloop (service, spec_hash, model_version, failures, last_at,"
                  " held) VALUES ('telecom', 'h', 1, 5, 0, 1)")  # a held crash loop
    db.close()
    metrics = _scrape(url)
    bases = {name.removesuffix("_bucket").removesuffix("_count").removesuffix("_sum")
             for name in metrics}
    assert bases == set(contract.RUNNER_METRICS)
    drift = metrics[contract.DRIFT_SHARE]
    assert drift[(("service", "bankchurn"),)] == 0.62
    assert math.isnan(drift[(("service", "telecom"),)])  # never measured
    assert metrics[contract.SERVICE_REVISION] == {(("service", "bankchurn"),): 1.0}
    assert metrics[contract.SERVICE_MODEL_VERSION] == {(("service", "bankchurn"),): 3.0}
    assert metrics[contract.SERVICE_CRASHES] == {(("held", "true"), ("service", "telecom")): 5.0}
    assert metrics[contract.LAST_RECONCILE_SUCCESS][()] == 0.0
    assert metrics[f"{contract.APPLY_DURATION}_count"][()] == 2.0
    assert metrics[f"{contract.APPLY_DURATION}_bucket"][(("le", "1.0"),)] == 1.0
    assert metrics[f"{contract.APPLY_DURATION}_sum"][()] == pytest.approx(4.9)
    # Later applies are folded in on the next scrape (the exporter reads only new events).
    db = StateStore(ctx.state)
    db.audit("apply", actor="t", outcome="ok", duration_s=0.4)
    db.close()
    metrics = _scrape(url)
    assert metrics[f"{contract.APPLY_DURATION}_count"][()] == 3.0
    assert metrics[f"{contract.APPLY_DURATION}_bucket"][(("le", "0.5"),)] == 1.0
    assert metrics[contract.LAST_RECONCILE_SUCCESS][()] == 1.0


def test_drift_gauge_validates_and_survives_a_garbled_file(tmp_path: Path) -> None:
    with pytest.raises(PermanentError, match="between 0 and 1"):
        drift_gauge.set("bankchurn", 1.5, state=tmp_path)
    drift_gauge.set("bankchurn", 0.1, state=tmp_path)
    drift_gauge.set("telecom", 0.2, state=tmp_path)
    assert drift_gauge.get_all(state=tmp_path) == {"bankchurn": 0.1, "telecom": 0.2}
    (tmp_path / "monitor" / "drift.json").write_text("{not json")
    assert drift_gauge.get_all(state=tmp_path) == {}


def test_drift_alert_is_audited_notified_and_requested_once(
    monitor: tuple[str, Context], webhook_sink: list[dict[str, Any]]
) -> None:
    url, ctx = monitor
    payload = _payload("DriftShareCritical", "bankchurn", "critical", "2026-11-29T10:00:00Z")
    for _ in range(3):  # Alertmanager repeats a firing group
        reply = _post(url, ctx, payload)
        assert reply.status_code == 200
        assert reply.json() == {"status": "accepted", "alerts": 1}  # nothing about deploys
    outcomes = [a["outcome"] for a in _actions(ctx, "fp-1")]
    assert outcomes == ["requested", "duplicate", "duplicate"]
    events = store.events("alert.", state=ctx.state)
    assert [e["action"] for e in events].count(store.ALERT_RECEIVED) == 3
    requested = [e for e in events if e["action"] == store.PROCEDURE_REQUESTED]
    assert len(requested) == 1
    assert requested[0]["service"] == "bankchurn"
    assert requested[0]["detail"]["playbook"] == "retrain"
    # Both sinks got it: the file sink under the (moved) state dir, and the webhook.
    lines = (ctx.state / "notifications.jsonl").read_text().splitlines()
    assert len(lines) == 3 and json.loads(lines[0])["name"] == "DriftShareCritical"
    # Private files in a private directory (issue 13 item 11).
    for path in (ctx.state, ctx.state / "notifications.jsonl",
                 ctx.state / "monitor" / "procedures.json"):
        assert path.stat().st_mode & 0o077 == 0, path
    assert len(webhook_sink) == 3 and webhook_sink[0]["service"] == "bankchurn"
    # The webhook URL holds a token: it appears nowhere in the audit log.
    assert SECRET_URL_TOKEN not in json.dumps(store.events(state=ctx.state))


def test_warning_goes_to_file_sink_only(
    monitor: tuple[str, Context], webhook_sink: list[dict[str, Any]]
) -> None:
    url, ctx = monitor
    payload = _payload("ErrorRateWarning", "telecom", "warning", "2026-11-29T10:00:00Z")
    assert _post(url, ctx, payload).status_code == 200
    assert _actions(ctx, "fp-1") == []
    assert webhook_sink == []  # the oncall sink wants critical only
    assert (ctx.state / "notifications.jsonl").is_file()


def test_unset_webhook_reference_is_reported_not_raised(
    monitor: tuple[str, Context], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MLGITOPS_WEBHOOK_URL", raising=False)
    url, ctx = monitor
    payload = _payload("DriftShareCritical", "telecom", "critical", "2026-11-29T10:00:00Z")
    assert _post(url, ctx, payload).status_code == 200
    (event,) = store.events(store.ALERT_NOTIFIED, state=ctx.state)
    notified = {d["sink"]: d for d in event["detail"]["deliveries"]}
    assert notified["oncall"] == {
        "sink": "oncall", "ok": False, "msg": "not sent: env MLGITOPS_WEBHOOK_URL is not set"
    }


def test_rollback_starts_a_procedure_that_reports_back(monitor: tuple[str, Context]) -> None:
    url, ctx = monitor
    playbook = Path(ctx.platform.root) / "playbooks" / "rollback.yaml"
    playbook.write_text("- name: rollback\n  tasks: []\n")
    db = StateStore(ctx.state)
    rev = db.add_revision("carvision", spec_hash="h", model_name="carvision-model",
                          model_version=2, actor="t", reason="deploy", outcome=SUCCESS)
    db.close()
    import time

    # The payload claims a start inside the post-deploy window; only receipt times count.
    starts = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(rev.created_at + 5))
    payload = _payload("ErrorRateCritical", "carvision", "critical", starts, fingerprint="fp-9")
    assert _post(url, ctx, payload).status_code == 200
    (action,) = _actions(ctx, "fp-9")
    assert action["outcome"] == "started" and action["vars"]["revision"] == str(rev.number)
    _post(url, ctx, payload)
    assert _actions(ctx, "fp-9")[-1]["outcome"] == "duplicate"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        finished = store.events(store.PROCEDURE_FINISHED, state=ctx.state)
        if finished:
            break
        time.sleep(0.2)
    assert len(finished) == 1
    assert finished[0]["service"] == "carvision"
    assert finished[0]["detail"]["playbook"] == "rollback"
    assert finished[0]["outcome"] == "success", finished[0]["detail"]["summary"]
    started = store.events(store.PROCEDURE_STARTED, state=ctx.state)
    assert len(started) == 1
    # The rollback made a new revision; Alertmanager repeats the same alert: a duplicate of
    # what was done, not a new decision against the new revision.
    db = StateStore(ctx.state)
    db.add_revision("carvision", spec_hash="h0", model_name="carvision-model",
                    model_version=1, actor="t", reason="rollback", outcome=SUCCESS)
    # ... deployed 700 s ago: a new alert now is outside the 600 s post-deploy window,
    # whatever start time its payload claims.
    db.db.execute("UPDATE revisions SET created_at = created_at - 700")
    db.close()
    _post(url, ctx, payload)
    assert _actions(ctx, "fp-9")[-1]["outcome"] == "duplicate"
    payload = _payload("LatencyP99Critical", "carvision", "critical", starts, fingerprint="fp-8")
    _post(url, ctx, payload)
    (other,) = _actions(ctx, "fp-8")
    assert other["outcome"] == "skipped"
    assert "700s after revision 2 was deployed, outside the 600s" in other["reason"]


def test_bad_requests_are_refused(monitor: tuple[str, Context]) -> None:
    url, ctx = monitor
    json_auth = {**_auth(ctx.state), "Content-Type": "application/json"}
    assert httpx.post(f"{url}/alerts", content=b"{", headers=json_auth,
                      timeout=5).status_code == 400
    old = {"version": "3", "alerts": []}
    assert _post(url, ctx, old).status_code == 400
    assert httpx.get(f"{url}/nope", timeout=5).status_code == 404
    assert httpx.get(f"{url}/health", timeout=5).text == "ok\n"


def test_procedure_skips_a_rollback_of_a_replaced_deploy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from runner.commands import alert_procedure as procedure

    monkeypatch.setenv("MLGITOPS_ROOT", str(tmp_path))
    monkeypatch.setenv("MLGITOPS_STATE_DIR", str(tmp_path / "state"))
    (tmp_path / "playbooks").mkdir()
    (tmp_path / "playbooks" / "rollback.yaml").write_text("- name: rollback\n  tasks: []\n")
    db = StateStore(tmp_path / "state")
    for version in (1, 2):  # revision 1 was replaced by revision 2 before the procedure ran
        db.add_revision("telecom", spec_hash=f"h{version}", model_name="telecom-model",
                        model_version=version, actor="t", reason="deploy", outcome=SUCCESS)
    db.close()
    code = procedure.main(["rollback", "-e", "service=telecom", "-e", "revision=1"])
    assert code == 0
    (finished,) = store.events(store.PROCEDURE_FINISHED, state=tmp_path / "state")
    assert finished["outcome"] == "skipped"
    assert finished["detail"]["summary"] == "revision 1 of telecom is no longer current (2)"


def test_alert_actions_follow_a_spec_edit_without_a_restart(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil

    from runner.monitor.server import load_context

    root = tmp_path / "repo"
    shutil.copytree(ROOT / "specs", root / "specs")
    (root / "projects").symlink_to(ROOT / "projects")
    (root / "playbooks").mkdir()
    monkeypatch.setenv("MLGITOPS_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.delenv("MLGITOPS_WEBHOOK_URL", raising=False)
    server = make_server(load_context("dev", root), "127.0.0.1", 0, follow_specs=True)
    serve_in_thread(server)
    url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        ctx = server.ctx
        payload = _payload("DriftShareCritical", "telecom", "critical", "2026-11-29T10:00:00Z")
        _post(url, ctx, payload)
        assert [a["outcome"] for a in _actions(ctx, "fp-1")] == ["requested"]
        # Somebody drops the drift action from the platform spec and commits: it applies
        # to the next alert at once.
        platform = root / "specs" / "platform.yaml"
        text = platform.read_text()
        drift_action = "  - alert: drift_share\n    severity: critical\n    playbook: retrain\n"
        assert drift_action in text
        platform.write_text(text.replace(drift_action, ""))
        payload = _payload("DriftShareCritical", "bankchurn", "critical", "2026-11-29T10:00:00Z",
                           fingerprint="fp-2")
        assert _post(url, ctx, payload).status_code == 200
        assert _actions(ctx, "fp-2") == []
        # A spec that no longer validates keeps the last good platform.
        platform.write_text(text.replace("runtime: local", "runtime: nonsense"))
        assert httpx.get(f"{url}/metrics", timeout=5).status_code == 200
        assert _post(url, ctx, payload).status_code == 200
        assert _actions(ctx, "fp-2") == []
    finally:
        server.shutdown()
        server.server_close()
