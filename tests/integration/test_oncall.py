"""On call end to end (issue 14) with real components: uvicorn replicas of the local
runtime, a real MLflow sqlite registry, real git, the monitor's status page in Debian's
chromium driven by playwright.

One module-scoped platform (bankchurn only), driven through the scenarios in order:
restart under keep-alive load, scale to 3 and back to 1, logs of every replica, the
status page after a rollback. Plus the port pre-check, which needs no platform.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from reconcile_fixtures import (
    REPO,
    Load,
    free_port,
    git,
    make_repo,
    register_models,
    sample_body,
    set_version,
)

from runner import slo
from runner.commands.converge import plan_command, reconcile_command, rollback_command
from runner.commands.doctor import doctor_command
from runner.commands.logs import logs_command
from runner.commands.platform_up import down_command, up_command
from runner.commands.restart_command import restart_command
from runner.commands.scale import scale_command
from runner.commands.status import status_command
from runner.monitor.server import load_context, make_server, serve_in_thread
from runner.monitor.status_page import CACHE_S, REFRESH_S
from runner.operations import open_env
from runner.operations.watch import scrape

pytestmark = [pytest.mark.integration, pytest.mark.slow]
ARTIFACTS = REPO / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    tmp = tmp_path_factory.mktemp("oncall")
    port = free_port()
    root = make_repo(tmp, port=port)
    state = tmp / "state"
    uri = register_models(state)
    saved = {k: os.environ.get(k) for k in ("MLGITOPS_ROOT", "MLGITOPS_STATE_DIR",
                                            "MLFLOW_TRACKING_URI", "MLGITOPS_ACTOR")}
    os.environ.update(MLGITOPS_ROOT=str(root), MLGITOPS_STATE_DIR=str(state),
                      MLFLOW_TRACKING_URI=uri, MLGITOPS_ACTOR="oncall-tester")
    try:
        assert reconcile_command() == 0
        yield {"root": root, "state": state, "port": port}
    finally:
        open_env(root, quiet=True).runtime.remove("bankchurn")
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _live(p: dict) -> list:
    facts = open_env(p["root"], quiet=True).runtime.facts(["bankchurn"])["bankchurn"]
    return [f for f in facts if f.running]


def _figure(name: str, value: object) -> None:
    """Measured figures, kept beside the screenshot (stdout is captured by capsys)."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / "oncall-figures.json"
    figures = json.loads(path.read_text()) if path.exists() else {}
    figures[name] = value
    path.write_text(json.dumps(figures, indent=1))


def _predictions(admin_port: int) -> float:
    return slo.predictions(slo.Scrape(), scrape(admin_port))


def test_inv_up_fails_in_one_line_naming_the_program_holding_the_port(tmp_path: Path) -> None:
    port = free_port()
    root = make_repo(tmp_path, port=port)
    code = (f"import socket,time; s=socket.socket(); s.bind(('127.0.0.1', {port})); "
            "s.listen(); print('up', flush=True); time.sleep(60)")
    squatter = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE)
    try:
        assert squatter.stdout is not None and squatter.stdout.readline().strip() == b"up"
        env = {**os.environ, "MLGITOPS_ROOT": str(root),
               "MLGITOPS_STATE_DIR": str(tmp_path / "state")}
        inv = [str(REPO / ".venv" / "bin" / "inv"), "--search-root", str(REPO)]
        up = subprocess.run([*inv, "up"], env=env, capture_output=True, text=True, timeout=120)
        assert up.returncode != 0
        lines = up.stderr.strip().splitlines()
        assert len(lines) == 1, up.stderr
        assert f"port {port} (bankchurn) is taken by python" in lines[0]
        assert f"(pid {squatter.pid})" in lines[0]
        doctor = subprocess.run([*inv, "doctor", "--service", "bankchurn"], env=env,
                                capture_output=True, text=True, timeout=120)
        assert doctor.returncode == 1
        assert f"FAIL port       bankchurn      {lines[0].split(': ')[0]}" in doctor.stdout
        assert f"fix: stop it (kill {squatter.pid})" in doctor.stdout
    finally:
        squatter.kill()
        squatter.wait()


def test_restart_under_keepalive_load_fails_no_request(platform: dict, capsys) -> None:
    before = {f.replica for f in _live(platform)}
    with Load(platform["port"], sample_body(), rate=100, keepalive=True) as load:
        time.sleep(1.0)
        assert restart_command("bankchurn", reason="leak suspected") == 0
        time.sleep(1.0)
    assert "restarted bankchurn: 1 replica(s) replaced" in capsys.readouterr().out
    assert load.sent > 200
    assert load.failed == 0, load.errors[:5]
    after = {f.replica for f in _live(platform)}
    assert len(after) == 1 and not after & before
    _figure("restart", {"sent": load.sent, "failed": load.failed})


def test_scale_to_three_commits_spreads_load_and_back_to_one(platform: dict, capsys) -> None:
    root = platform["root"]
    with Load(platform["port"], sample_body(), rate=100) as load:
        assert scale_command("bankchurn", 3, reason="latency p99 high") == 0
    assert load.failed == 0, load.errors[:5]
    assert git(root, "log", "-1", "--format=%s") == (
        "scale bankchurn to 3 replicas: latency p99 high")
    assert re.search(r"(?m)^replicas: 3$", (root / "specs/services/bankchurn.yaml").read_text())
    live = _live(platform)
    assert len(live) == 3 and all(f.healthy for f in live)
    capsys.readouterr()
    assert plan_command() == 0
    assert "in sync" in capsys.readouterr().out
    # Fresh connections: the kernel spreads them over the three SO_REUSEPORT listeners.
    counts = {f.replica: _predictions(f.admin_port) for f in live}
    with Load(platform["port"], sample_body(), rate=100) as load:
        time.sleep(4.0)
    assert load.failed == 0
    grown = {f.replica: _predictions(f.admin_port) - counts[f.replica] for f in live}
    assert all(n > 0 for n in grown.values()), grown
    platform["scaled"] = sorted(grown)
    _figure("scale_to_3_requests_per_replica_4s", grown)

    with Load(platform["port"], sample_body(), rate=100, keepalive=True) as load:
        time.sleep(1.0)
        assert scale_command("bankchurn", 1, reason="load back to normal") == 0
        time.sleep(1.0)
    assert load.failed == 0, load.errors[:5]
    assert git(root, "log", "-1", "--format=%s") == (
        "scale bankchurn to 1 replica: load back to normal")
    assert len(_live(platform)) == 1
    capsys.readouterr()
    assert plan_command() == 0
    _figure("scale_to_1", {"sent": load.sent, "failed": load.failed})


def test_logs_since_grep_show_every_replica_by_name(platform: dict, capsys) -> None:
    capsys.readouterr()
    assert logs_command("bankchurn", since="5m", grep="predict") == 0
    out = capsys.readouterr().out.splitlines()
    assert out and all("predict" in line for line in out)
    shown = {line.split(" | ", 1)[0].strip() for line in out}
    assert set(platform["scaled"]) <= shown, (platform["scaled"], shown)
    assert logs_command("bankchurn", tail=3) == 0
    assert len(capsys.readouterr().out.splitlines()) == 3


def test_doctor_reads_memory_and_p99_of_the_live_replica(platform: dict, capsys) -> None:
    capsys.readouterr()
    doctor_command(service="bankchurn", as_json=True)
    checks = json.loads(capsys.readouterr().out)["checks"]
    (replica,) = _live(platform)
    memory = [c for c in checks if c["check"] == "memory"]
    assert len(memory) == 1 and memory[0]["detail"].startswith(f"{replica.replica}: ")
    assert "MiB of 512 MiB" in memory[0]["detail"]
    (p99,) = [c for c in checks if c["check"] == "p99"]
    assert re.match(r"\d+\.\d{3}s since the replicas started \(warning at 2s\)", p99["detail"])
    assert {c["check"]: c["status"] for c in checks}["registry"] == "ok"
    _figure("doctor", {c["check"]: c["detail"] for c in checks if c["check"] in ("memory", "p99")})


def test_down_and_up_one_service_show_the_plan_first(platform: dict, capsys) -> None:
    capsys.readouterr()
    assert down_command(service="bankchurn") == 0
    assert "stopped bankchurn-" in capsys.readouterr().out
    assert _live(platform) == []
    assert up_command(service="bankchurn") == 0
    out = capsys.readouterr().out
    plan_at = out.index("+ create   bankchurn")
    done_at = out.index("ok          create   bankchurn")
    assert plan_at < done_at  # the plan is shown before it is applied
    assert len(_live(platform)) == 1


def _cells(page, service: str) -> dict[str, str]:
    row = page.locator(f"#service-{service}")
    return {field: row.locator(f'td[data-field="{field}"]').inner_text().strip()
            for field in ("desired_version", "running_versions", "revision", "replicas",
                          "health", "standby_versions")}


def _versions(versions: list[int]) -> str:
    return ", ".join(f"v{v}" for v in versions) or "-"


def test_status_page_in_chromium_matches_status_and_shows_the_rollback(platform: dict,
                                                                       capsys) -> None:
    playwright = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed (scripts/setup.sh installs it)")
    root, state = platform["root"], platform["state"]
    set_version(root, 2)  # a deploy to roll back from
    assert reconcile_command() == 0
    server = make_server(load_context("dev", root, state), port=0, follow_specs=True)
    serve_in_thread(server)
    url = f"http://127.0.0.1:{server.server_address[1]}/"
    ARTIFACTS.mkdir(exist_ok=True)
    try:
        with playwright.sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page()
            page.goto(url)
            capsys.readouterr()
            assert status_command(as_json=True) == 0
            status = json.loads(capsys.readouterr().out)
            row = next(r for r in status["services"] if r["service"] == "bankchurn")
            assert _cells(page, "bankchurn") == {
                "desired_version": f"v{row['desired_version']}",
                "running_versions": _versions(row["running_versions"]),
                "revision": str(row["revision"]),
                "replicas": row["replicas"],
                "health": "healthy" if row["healthy"] else "DOWN",
                "standby_versions": _versions(row["standby_versions"]),
            }
            assert status["last_synced_commit"].startswith(
                page.locator("#last-synced").inner_text().strip())
            assert "in sync" in page.locator("#plan-summary").inner_text()
            time.sleep(CACHE_S)  # one gathering, not the cached page
            began = time.perf_counter()
            assert httpx.get(url, timeout=20).status_code == 200
            _figure("status_page_render_s", round(time.perf_counter() - began, 3))

            assert rollback_command("bankchurn", reason="p99 doubled after v2") == 0
            want = str(row["revision"] + 1)
            # No reload from here: the page's own refresh must show it.
            deadline = time.monotonic() + REFRESH_S + CACHE_S + 5
            while time.monotonic() < deadline:
                try:
                    if _cells(page, "bankchurn")["revision"] == want:
                        break
                except playwright.Error:
                    pass  # caught mid-navigation: look again
                time.sleep(0.25)
            cells = _cells(page, "bankchurn")
            assert cells["revision"] == want and cells["running_versions"] == "v1"
            assert cells["standby_versions"] == "v2"  # parked by the rollback
            latest = page.locator("#deploys-bankchurn tbody tr").first
            assert latest.locator('td[data-field="actor"]').inner_text() == "oncall-tester"
            assert "p99 doubled after v2" in latest.locator('td[data-field="reason"]').inner_text()
            shot = ARTIFACTS / "status-page-after-rollback.png"
            page.screenshot(path=str(shot), full_page=True)
            assert shot.stat().st_size > 5000
            browser.close()
    finally:
        server.shutdown()
        server.server_close()
    shutil.copy(shot, Path(str(state)).parent / shot.name)  # beside the pytest basetemp too
