"""A canary in every secret reference never shows up anywhere the toolkit writes or prints.

A temporary repository (reconcile_fixtures: the real specs, bankchurn on a free port, a
real sqlite MLflow registry) gets a canary value behind every secret reference of
``specs/platform.yaml``: the Grafana admin password (env), the on-call webhook URL (env),
a second webhook whose URL is read from a file, and the monitor's webhook token file.
Then the commands run as a user runs them (``inv validate``, ``render``, ``plan``,
``reconcile``, ``status``, ``history``, ``health``, ``down``), the monitor takes an
alert that is delivered to one webhook and fails on the other, and a spec with the
secret written inline is validated. The canary must be in no generated file, output,
log, audit row, state store, report or error message: every byte under the repository
(``.git`` included) and the state directory is searched, and every command's output.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from reconcile_fixtures import REPO, free_port, git, make_repo, register_models

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CANARY = f"canary{secrets.token_hex(8)}"


class _Sink(BaseHTTPRequestHandler):
    paths: list[str] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        _Sink.paths.append(self.path)
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def _inv(env: dict[str, str], *args: str, ok: tuple[int, ...] = (0,)) -> str:
    done = subprocess.run([str(REPO / ".venv" / "bin" / "inv"), *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=600, check=False)
    out = done.stdout + done.stderr
    assert done.returncode in ok, f"inv {' '.join(args)} -> {done.returncode}:\n{out[-3000:]}"
    return out


def _add_file_webhook(root: Path, url_file: Path) -> None:
    """A second critical webhook whose URL comes from a file reference."""
    platform = root / "specs" / "platform.yaml"
    text = platform.read_text()
    anchor = "    url: {env: MLGITOPS_WEBHOOK_URL}\n    min_severity: critical\n"
    assert anchor in text
    text = text.replace(anchor, anchor + "  - name: oncall-file\n    type: webhook\n"
                        f"    url: {{file: {url_file}}}\n    min_severity: critical\n")
    # Critical alerts go to their escalation level's routes (P0, P1): route there too.
    routes = "    routes: [oncall, local-log]\n"
    assert routes in text
    text = text.replace(routes, "    routes: [oncall, oncall-file, local-log]\n")
    platform.write_text(text)
    git(root, "commit", "-q", "-am", "a webhook by file reference")


def _files_with_canary(*dirs: Path, allowed: set[Path]) -> list[str]:
    found = []
    needle = CANARY.encode()
    for top in dirs:
        for path in top.rglob("*"):
            if path.is_file() and not path.is_symlink() and path.resolve() not in allowed:
                try:
                    if needle in path.read_bytes():
                        found.append(str(path))
                except OSError:
                    continue
    return found


def _post_alert(url: str, token: str) -> httpx.Response:
    payload = {"version": "4", "status": "firing", "receiver": "runner", "groupKey": "{}",
               "alerts": [{"status": "firing", "fingerprint": "canary-fp",
                           "labels": {"alertname": "MlServiceCpuCritical",
                                      "service": "bankchurn", "severity": "critical"},
                           "annotations": {"summary": "cpu on bankchurn"}}]}
    return httpx.post(f"{url}/alerts", json=payload, timeout=10,
                      headers={"Authorization": f"Bearer {token}"})


def test_a_canary_in_every_secret_reference_leaks_nowhere(tmp_path: Path) -> None:
    port = free_port()
    root = make_repo(tmp_path, port=port, watch_s=1)
    state = tmp_path / "state"
    secret_dir = tmp_path / "secret-files"
    secret_dir.mkdir(mode=0o700)
    closed_port = free_port()  # nothing listens there: that delivery fails
    url_file = secret_dir / "hook-url"
    url_file.write_text(f"http://127.0.0.1:{closed_port}/hook/{CANARY}-file\n")
    _add_file_webhook(root, url_file)
    token_file = state / "secrets" / "webhook-token"
    token_file.parent.mkdir(parents=True, mode=0o700)
    token_file.write_text(f"{CANARY}-token\n")
    token_file.chmod(0o600)
    uri = register_models(state)

    _Sink.paths = []
    sink = HTTPServer(("127.0.0.1", 0), _Sink)
    threading.Thread(target=sink.serve_forever, args=(0.05,), daemon=True).start()
    env = {**os.environ, "MLGITOPS_ROOT": str(root), "MLGITOPS_STATE_DIR": str(state),
           "MLFLOW_TRACKING_URI": uri, "GRAFANA_ADMIN_PASSWORD": f"{CANARY}-grafana",
           "MLGITOPS_WEBHOOK_URL": f"http://127.0.0.1:{sink.server_address[1]}/hook/"
                                   f"{CANARY}-env"}
    outputs: list[str] = []
    monitor_log = tmp_path / "monitor.log"
    monitor_port = free_port()
    monitor = None
    try:
        outputs.append(_inv(env, "validate"))
        outputs.append(_inv(env, "render"))
        outputs.append(_inv(env, "render", "--check"))
        outputs.append(_inv(env, "plan", ok=(2,)))
        outputs.append(_inv(env, "plan", "--json", ok=(2,)))
        outputs.append(_inv(env, "reconcile"))
        outputs.append(_inv(env, "plan", "--json"))
        outputs.append(_inv(env, "status", "--json"))
        outputs.append(_inv(env, "history", "--service", "bankchurn"))
        outputs.append(_inv(env, "health", ok=(0, 1)))  # MLflow is not started here

        with open(monitor_log, "wb") as out:
            monitor = subprocess.Popen(
                [sys.executable, "-m", "runner.monitor.server", "--port", str(monitor_port),
                 "--root", str(root), "--state", str(state)],
                cwd=REPO, env={**env, "PYTHONPATH": str(REPO)}, stdout=out,
                stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{monitor_port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        wrong = httpx.post(f"{url}/alerts", json={}, timeout=10,
                           headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        outputs.append(wrong.text)
        reply = _post_alert(url, f"{CANARY}-token")
        assert reply.status_code == 200, reply.text
        outputs.append(reply.text)
        deadline = time.monotonic() + 30
        while not _Sink.paths and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _Sink.paths == [f"/hook/{CANARY}-env"], "the env-referenced webhook got it"
        # Both deliveries are audited (one ok, one failed): wait for the audit row.
        deadline = time.monotonic() + 30
        history = ""
        while "alert.notified" not in history and time.monotonic() < deadline:
            history = _inv(env, "history", "--service", "bankchurn", "--json")
            time.sleep(0.5)
        assert "alert.notified" in history
        assert "oncall-file" in history and "not sent" in history  # the failed delivery
        outputs.append(history)
    finally:
        if monitor is not None:
            monitor.send_signal(signal.SIGTERM)
            monitor.wait(timeout=15)
        outputs.append(_inv(env, "down", ok=(0, 1)))
        sink.shutdown()
        sink.server_close()

    # A secret written into the spec itself is refused without being repeated.
    platform = root / "specs" / "platform.yaml"
    text = platform.read_text()
    platform.write_text(text.replace("admin_password: {env: GRAFANA_ADMIN_PASSWORD}",
                                     f"admin_password: {CANARY}-inline"))
    refused = _inv(env, "validate", ok=(1,))
    assert "admin_password" in refused and "never the secret itself" in refused
    outputs.append(refused)
    platform.write_text(text)

    outputs.append(monitor_log.read_text())
    leaked = [out[:200] for out in outputs if CANARY in out]
    assert not leaked, f"the canary is in command output: {leaked}"
    # The search finds a canary where it is meant to be (the secret files themselves).
    assert _files_with_canary(state, allowed=set()) == [str(token_file)]
    allowed = {token_file.resolve(), url_file.resolve()}
    files = _files_with_canary(root, state, tmp_path, allowed=allowed)
    assert not files, f"the canary is in: {files}"
    # And git history holds no secret (the spec edit was never committed).
    assert CANARY not in git(root, "log", "-p", "--all")
