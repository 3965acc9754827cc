"""On-call pieces that need no replica (issue 14): who holds a port, inv doctor's checks,
the replicas edit and scaling bounds, elapsed-time progress, and the status page's
headers and escaping over real HTTP."""

from __future__ import annotations

import io
import json
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from runner.commands.doctor import doctor_command
from runner.commands.port_owners import refuse_taken_ports
from runner.commands.progress import step
from runner.commands.scale import check_bounds
from runner.errors import PermanentError, SpecError, TemporaryError
from runner.monitor.server import load_context, make_server, serve_in_thread
from runner.operations import open_env
from runner.operations.specedit import edit_replicas
from runner.runtime.ports import foreign, listener
from runner.spec import load_platform
from runner.state.state_store import SUCCESS, StateStore

REPO = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture()
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The real specs with every port moved to a free one (nothing of the machine's)."""
    root = tmp_path / "repo"
    ports: set[int] = set()

    def unique_port() -> int:  # a port released and picked again would clash in validation
        while (port := _free_port()) in ports:
            continue
        ports.add(port)
        return port

    shutil.copytree(REPO / "specs", root / "specs")
    shutil.copytree(REPO / "projects", root / "projects",
                    ignore=shutil.ignore_patterns("data", "models", "__pycache__"))
    for spec in (root / "specs" / "services").glob("*.yaml"):
        spec.write_text(re.sub(r"(?m)^port: \d+", f"port: {unique_port()}", spec.read_text()))
    platform = root / "specs" / "platform.yaml"
    text = platform.read_text()
    for old in ("5000", "9090", "9093", "9108", "3000"):
        text = re.sub(rf"(port: ){old}\b", rf"\g<1>{unique_port()}", text)
    platform.write_text(text)
    monkeypatch.setenv("MLGITOPS_ROOT", str(root))
    monkeypatch.setenv("MLGITOPS_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("MLGITOPS_ACTOR", "oncall-test")
    return root


@pytest.fixture()
def squatter(repo: Path) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    """Another program listening on a port none of the specs uses: a python process."""
    taken = {int(n) for spec in (repo / "specs").rglob("*.yaml")
             for n in re.findall(r"(?m)^\s*port: (\d+)", spec.read_text())}
    while (port := _free_port()) in taken:
        continue
    code = ("import socket,time; s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, "
            f"socket.SO_REUSEADDR, 1); s.bind(('127.0.0.1', {port})); s.listen(); "
            "print('up', flush=True); time.sleep(120)")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE)
    assert proc.stdout is not None and proc.stdout.readline().strip() == b"up"
    yield proc, port
    proc.kill()
    proc.wait()


def test_listener_names_program_and_pid(squatter: tuple[subprocess.Popen[bytes], int]) -> None:
    proc, port = squatter
    found = listener(port)
    assert found is not None and found.pid == proc.pid
    assert found.program.startswith("python")
    assert foreign(port, [proc.pid]) is None  # ours: not foreign
    assert foreign(_free_port(), []) is None  # free


def _take_bankchurn_port(root: Path, port: int) -> None:
    spec = root / "specs" / "services" / "bankchurn.yaml"
    spec.write_text(re.sub(r"(?m)^port: \d+", f"port: {port}", spec.read_text()))


def test_up_precheck_and_doctor_name_the_program_and_pid(
        repo: Path, squatter: tuple[subprocess.Popen[bytes], int],
        capsys: pytest.CaptureFixture[str]) -> None:
    proc, port = squatter
    _take_bankchurn_port(repo, port)
    env = open_env(repo, quiet=True)
    with pytest.raises(TemporaryError) as err:
        refuse_taken_ports(env)
    line = err.value.one_line()
    assert "\n" not in line
    assert f"port {port} (bankchurn) is taken by python" in line
    assert f"(pid {proc.pid})" in line
    assert doctor_command(service="bankchurn", as_json=True) == 1
    checks = json.loads(capsys.readouterr().out)["checks"]
    port_check = next(c for c in checks if c["check"] == "port")
    assert port_check["status"] == "fail"
    assert f"(pid {proc.pid})" in port_check["detail"]
    assert f"kill {proc.pid}" in port_check["fix"]
    assert "specs/services/bankchurn.yaml" in port_check["fix"]


def test_doctor_checks_each_line_ok_or_problem_with_fix(
        repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = doctor_command()
    out = capsys.readouterr().out.splitlines()
    # Nothing runs here: MLflow unreachable and no model registered are problems with a fix.
    assert code == 1
    assert any(line.startswith("FAIL mlflow") for line in out)
    registry = [i for i, line in enumerate(out) if line.startswith("FAIL registry   bankchurn")]
    assert registry and "inv retrain --service bankchurn" in out[registry[0] + 1], "\n".join(out)
    for name in ("port", "lock", "disk", "clock"):
        assert any(line.split()[1] == name for line in out if line[:4] in ("ok  ", "warn",
                                                                           "FAIL")), name
    assert out[-1].endswith("warning(s)") or out[-1] == "all checks ok"


def test_doctor_finds_a_stale_lock(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    env = open_env(repo, quiet=True)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    env.store.db.execute(
        "INSERT INTO lock (name, holder_pid, holder_start, holder_host, holder_cmd, "
        "acquired_at, lease_until) VALUES ('apply', ?, 1, ?, 'inv reconcile', ?, ?)",
        (dead.pid, socket.gethostname(), time.time(), time.time() + 600))
    env.store.db.commit()
    doctor_command(as_json=True)
    lock = next(c for c in json.loads(capsys.readouterr().out)["checks"] if c["check"] == "lock")
    assert lock["status"] == "fail" and "stale" in lock["detail"]
    assert "inv reconcile" in lock["fix"]


def test_replicas_edit_keeps_the_rest_of_the_file(tmp_path: Path) -> None:
    spec = tmp_path / "svc.yaml"
    spec.write_text("name: svc\nport: 8001\nreplicas: 1  # one is plenty\nimage: x\n")
    assert edit_replicas(spec, 3) is True
    assert spec.read_text() == "name: svc\nport: 8001\nreplicas: 3  # one is plenty\nimage: x\n"
    assert edit_replicas(spec, 3) is False
    bare = tmp_path / "bare.yaml"
    bare.write_text("name: svc\nport: 8001\nimage: x\n")
    edit_replicas(bare, 2)
    assert bare.read_text() == "name: svc\nport: 8001\nreplicas: 2\nimage: x\n"


def test_scaling_bounds_are_validated_and_enforced(repo: Path) -> None:
    spec = repo / "specs" / "services" / "bankchurn.yaml"
    text = spec.read_text()
    spec.write_text(text + "scaling: {min: 1, max: 2}\n")
    env = open_env(repo, quiet=True)
    check_bounds(env, "bankchurn", 2)
    with pytest.raises(PermanentError, match=r"3 replicas is outside its scaling bounds 1\.\.2"):
        check_bounds(env, "bankchurn", 3)
    spec.write_text(re.sub(r"(?m)^replicas: \d+", "replicas: 4", text)
                    + "scaling: {min: 1, max: 2}\n")
    with pytest.raises(SpecError, match=r"bankchurn\.yaml:\d+:\d+ replicas: .*outside scaling"):
        load_platform(repo, "dev")


def test_progress_shows_elapsed_time() -> None:
    out = io.StringIO()
    with step("training bankchurn", out=out, tick_s=0.01):
        time.sleep(0.05)
    lines = out.getvalue().splitlines()
    assert lines[0] == "training bankchurn ..."
    assert re.fullmatch(r"training bankchurn \.\.\. done in \d+\.\ds", lines[-1])
    out = io.StringIO()
    with pytest.raises(ValueError), step("starting MLflow", out=out):
        raise ValueError("boom")
    assert "failed after" in out.getvalue()


def test_status_page_is_read_only_escaped_and_has_security_headers(repo: Path) -> None:
    state = Path(str(repo.parent / "state"))
    store = StateStore(state)
    evil = "<script>alert(1)</script>"
    store.add_revision("bankchurn", spec_hash="abc", model_name="bankchurn-model",
                       model_version=1, image="x", git_commit="", actor="oncall-test",
                       reason=evil, outcome=SUCCESS, spec={})
    store.close()
    server = make_server(load_context("dev", repo, state), port=0)
    serve_in_thread(server)
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        page = httpx.get(f"{base}/", timeout=20)
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert page.headers["content-security-policy"].startswith("default-src 'self'")
        assert page.headers["x-content-type-options"] == "nosniff"
        assert page.headers["cache-control"] == "no-store"
        assert evil not in page.text and "&lt;script&gt;" in page.text
        assert '<meta http-equiv="refresh"' in page.text
        assert "webhook" not in page.text.lower()  # no token, no sink URL
        assert httpx.get(f"{base}/status.css").status_code == 200
        for method in ("POST", "PUT", "DELETE"):
            assert httpx.request(method, f"{base}/").status_code in (404, 501)
    finally:
        server.shutdown()
        server.server_close()


def test_status_json_has_last_synced_commit_and_watch_redraws_until_ctrl_c(
        repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from runner.commands import status as status_module

    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@e.invalid",
                    "commit", "-q", "--allow-empty", "-m", "specs v1"], check=True)
    head = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], check=True,
                          capture_output=True, text=True).stdout.strip()
    assert status_module.status_command(as_json=True) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["last_synced_commit"] == head and data["last_synced_source"] == "HEAD"
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        if len(sleeps) == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(status_module.time, "sleep", sleep)
    assert status_module.status_command(watch=2.0) == 0
    out = capsys.readouterr().out
    assert out.count("SERVICE       PORT") == 2 and sleeps == [2.0, 2.0]
    assert f"last synced: {head[:8]} specs v1" in out
    assert "STANDBY" in out


def test_scale_edit_is_all_or_nothing_when_an_overlay_overrides_replicas(repo: Path) -> None:
    from runner.commands.scale import edit_and_commit

    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    subprocess.run(["git", "-C", str(repo), "add", "."], check=True)
    subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@e.invalid",
                    "commit", "-q", "-m", "specs"], check=True)
    spec = repo / "specs" / "services" / "bankchurn.yaml"
    before = spec.read_text()
    with pytest.raises(PermanentError, match="staging overlay overrides replicas"):
        edit_and_commit(open_env(repo, "staging", quiet=True), "bankchurn", 3, reason="x")
    assert spec.read_text() == before
    env = open_env(repo, "dev", quiet=True)
    commit = edit_and_commit(env, "bankchurn", 2, reason="more traffic")
    log = subprocess.run(["git", "-C", str(repo), "log", "-1", "--format=%H %s"], check=True,
                         capture_output=True, text=True).stdout.strip()
    assert log == f"{commit} scale bankchurn to 2 replicas: more traffic"
    assert env.platform.service("bankchurn").replicas == 2
    assert edit_and_commit(env, "bankchurn", 2, reason="again") == ""  # nothing to commit


def test_status_page_shows_firing_alerts_with_runbook_section_and_drift_share(
        repo: Path) -> None:
    """A real HTTP server answering Alertmanager's API v2 on the spec's port."""
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    from runner.monitor import drift_gauge

    alerts = [{"labels": {"alertname": "BankchurnLatencyP99Critical", "service": "bankchurn",
                          "severity": "critical", "kind": "latency_p99_s"},
               "annotations": {"summary": "p99 high"}, "status": {"state": "active"},
               "fingerprint": "f1", "startsAt": "2026-01-31T12:00:00Z"}]

    class FakeAlertmanager(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            body = json.dumps(alerts).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    state = repo.parent / "state"
    ctx = load_context("dev", repo, state)
    am_port = ctx.platform.platform.monitoring.alertmanager.port
    fake = HTTPServer(("127.0.0.1", am_port), FakeAlertmanager)
    threading.Thread(target=fake.serve_forever, args=(0.05,), daemon=True).start()
    drift_gauge.set("bankchurn", 0.4, state=state)
    server = make_server(ctx, port=0)
    serve_in_thread(server)
    try:
        page = httpx.get(f"http://127.0.0.1:{server.server_address[1]}/", timeout=20).text
    finally:
        server.shutdown()
        server.server_close()
        fake.shutdown()
        fake.server_close()
    alerts_html = page[page.index('id="alerts"'):page.index('id="plan"')]
    assert "BankchurnLatencyP99Critical" in alerts_html
    assert "docs/runbook.md#latency-p99" in alerts_html
    row = page[page.index('id="service-bankchurn"'):]
    assert '<td data-field="drift">40%</td>' in row[:row.index("</tr>")]
