"""A committed threshold change reaches the live Prometheus through ``inv reconcile``.

A temporary git repo with the real specs (bankchurn only, every port free), real models
in a sqlite registry, bankchurn deployed by reconcile, and Prometheus and Alertmanager
started the way ``inv up`` starts them (``runner.runtime.daemons``, configs staged under
the state dir). Then ``alerts.error_rate.critical`` goes from 0.05 to 0.2 in a commit:

- the plan names it: ``~ replace monitoring  rules changed: BankchurnErrorRateCritical
  0.05 -> 0.2``; reconcile stages and SIGHUPs; the live Prometheus serves 0.2 on
  ``/api/v1/rules`` and Alertmanager runs the staged bytes (its config hash);
- a second reconcile plans nothing;
- the post-deploy watch takes the new threshold: against the live replica serving exactly
  10% errors it passes with the new limits and fails with the old ones;
- Prometheus runs without the lifecycle API: ``POST /-/quit`` is refused.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from monitoring_stack import have_binaries, wait_for
from reconcile_fixtures import free_port, git, make_repo, register_models, sample_body

from runner.commands.converge import plan_command, reconcile_command
from runner.operations import watch
from runner.operations.workspace import open_env
from runner.reconcile.monitoring import MONITORING, rendered
from runner.reconcile.plan import make_plan
from runner.runtime import daemons
from runner.runtime import monitoring_config as config

pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.skipif(not have_binaries(), reason="prometheus/alertmanager not installed"),
]
ALERT = "BankchurnErrorRateCritical"
ENV_KEYS = ("MLGITOPS_ROOT", "MLGITOPS_STATE_DIR", "MLFLOW_TRACKING_URI", "MLGITOPS_FAULT_ENABLE")


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("monitoring-reconcile")
    port = free_port()
    root = make_repo(tmp, port=port)
    ports = {name: free_port() for name in ("prometheus", "alertmanager", "exporter")}
    platform = root / "specs" / "platform.yaml"
    text = platform.read_text()
    for name, free in ports.items():
        text = re.sub(rf"(?m)^(  {name}: \{{host: 127\.0\.0\.1, port: )\d+", rf"\g<1>{free}", text)
    text = re.sub(r"(?m)^(  (?:scrape|evaluation)_interval_s: )\d+", r"\g<1>1", text)
    platform.write_text(text)
    git(root, "commit", "-qam", "monitoring on free ports")
    state = tmp / "state"
    uri = register_models(state)
    saved = {k: os.environ.get(k) for k in ENV_KEYS}
    # Replicas inherit the runner's environment: the fault switch exists (off) in each.
    os.environ.update(MLGITOPS_ROOT=str(root), MLGITOPS_STATE_DIR=str(state),
                      MLFLOW_TRACKING_URI=uri, MLGITOPS_FAULT_ENABLE="1")
    try:
        yield {"root": root, "state": state, "port": port, "ports": ports}
    finally:
        for name in ("prometheus", "alertmanager"):
            daemons.stop(state, name)
        open_env(root, quiet=True).runtime.remove("bankchurn")
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _live_thresholds(port: int) -> dict[str, str]:
    reply = httpx.get(f"http://127.0.0.1:{port}/api/v1/rules", params={"type": "alert"},
                      timeout=5).json()
    return {r["name"]: r["query"].rsplit(">=", 1)[1].strip()
            for g in reply["data"]["groups"] for r in g["rules"]}


def _plan_actions(root: Path) -> dict[str, str]:
    env = open_env(root, quiet=True)
    plan = make_plan(env.platform, env.runtime, env.store, tracking_uri=env.tracking_uri)
    return {a.service: a.kind for a in plan.actions}


def _set_critical(root: Path, value: str) -> None:
    spec = root / "specs" / "services" / "bankchurn.yaml"
    spec.write_text(re.sub(r"(?m)^(  error_rate: +\{warning: [\d.]+, critical: )[\d.]+",
                           rf"\g<1>{value}", spec.read_text()))
    git(root, "commit", "-qam", f"bankchurn: page at {value} errors")


def _post(port: int, path: str, body: bytes) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("POST", path, body=body, headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        resp.read()
        return resp.status
    finally:
        conn.close()


def _ten_percent_errors(port: int, admin: int, cycles: int = 8) -> list[int]:
    """9 good predictions then 1 forced failure, ``cycles`` times: never above 10%."""
    statuses = []
    for _ in range(cycles):
        statuses += [_post(port, "/predict", sample_body()) for _ in range(9)]
        _post(admin, "/_fault", json.dumps({"error_rate": 1.0, "duration_s": 30}).encode())
        statuses.append(_post(port, "/predict", sample_body()))
        _post(admin, "/_fault", json.dumps({"error_rate": 0.0, "duration_s": 1}).encode())
    return statuses


def _watch_under_traffic(port: int, admin: int, limits: dict[str, float]) -> tuple[bool, str]:
    verdict: list[tuple[bool, str]] = []
    t = threading.Thread(target=lambda: verdict.append(
        watch.watch([admin], for_s=8, interval_s=0.5, **limits)))
    t.start()
    try:
        time.sleep(0.5)  # the watch's first scrape comes before the traffic
        statuses = _ten_percent_errors(port, admin)
    finally:
        t.join(timeout=60)
    assert statuses.count(500) == len(statuses) // 10, statuses
    return verdict[0]


def test_a_committed_threshold_reaches_the_live_prometheus(
    repo: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    root, state, ports = repo["root"], repo["state"], repo["ports"]
    assert reconcile_command() == 0  # bankchurn v1
    # Monitoring never set up in this state dir: no monitoring line in the plan.
    assert MONITORING not in _plan_actions(root)

    # What `inv up` does: stage the rendered config, start both daemons.
    env = open_env(root, quiet=True)
    config.stage(state, rendered(env.platform))
    prometheus = daemons.prometheus_daemon(state, ports["prometheus"])
    assert "--web.enable-lifecycle" not in prometheus.argv
    daemons.ensure(state, prometheus)
    daemons.ensure(state, daemons.alertmanager_daemon(state, ports["alertmanager"]))
    logs = [state / "run" / "prometheus.log", state / "run" / "alertmanager.log"]
    wait_for("the rules loaded", lambda: _live_thresholds(ports["prometheus"]).get(ALERT),
             30, logs)
    assert _live_thresholds(ports["prometheus"])[ALERT] == "0.05"
    quit_reply = httpx.post(f"http://127.0.0.1:{ports['prometheus']}/-/quit", timeout=5)
    assert quit_reply.status_code == 403  # no lifecycle API for any local page to call
    assert _plan_actions(root)[MONITORING] == "noop"

    _set_critical(root, "0.2")
    capsys.readouterr()
    assert plan_command() == 2
    out = capsys.readouterr().out
    assert f"~ replace  monitoring     rules changed: {ALERT} 0.05 -> 0.2\n" in out, out
    assert "= noop     bankchurn" in out  # a threshold does not restart a model

    assert reconcile_command() == 0
    out = capsys.readouterr().out
    assert "prometheus reloaded, alertmanager reloaded" in out, out
    live = _live_thresholds(ports["prometheus"])
    assert live[ALERT] == "0.2"
    assert live["BankchurnErrorRateWarning"] == "0.01"  # the rest as it was
    am = httpx.get(f"http://127.0.0.1:{ports['alertmanager']}/metrics", timeout=5).text
    (loaded,) = [float(line.split()[1]) for line in am.splitlines()
                 if line.startswith("alertmanager_config_hash ")]
    staged_am = (state / "alertmanager" / "config" / "alertmanager.yml").read_text()
    assert loaded == config.config_hash(staged_am)

    # A second reconcile plans nothing.
    capsys.readouterr()
    assert plan_command() == 0
    out = capsys.readouterr().out
    assert "= noop     monitoring     monitoring config is as rendered (1 rule file," in out, out
    assert reconcile_command(as_json=True) == 0
    assert json.loads(capsys.readouterr().out)["plan"]["changes"] == 0

    # The post-deploy watch judges with the committed threshold.
    env = open_env(root, quiet=True)
    limits = watch.limits(env.platform.service("bankchurn"))
    assert limits["max_error_rate"] == 0.2
    (fact,) = env.runtime.facts(["bankchurn"])["bankchurn"]
    ok, msg = _watch_under_traffic(repo["port"], fact.admin_port, limits)
    assert ok, msg
    assert "error rate 10.00% (critical at 20.00%)" in msg
    ok, msg = _watch_under_traffic(repo["port"], fact.admin_port,
                                   {**limits, "max_error_rate": 0.05})
    assert not ok and msg.startswith("error rate too high after deploy"), msg
