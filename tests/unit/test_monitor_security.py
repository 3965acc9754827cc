"""The monitor's alert webhook against hostile callers (issue 13: items 1, 2, 5, 6).

Real server on a free port, real state store, raw sockets where a client library would
refuse to send the request.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from test_monitor_server import _actions, _auth, _payload, _post, monitor  # noqa: F401

from runner.monitor import audit_access as store
from runner.monitor import dispatcher
from runner.monitor import server as server_mod
from runner.monitor.dispatcher import Context
from runner.monitor.webhook_token import (
    CREDENTIALS_FILE_FROM_CONFIG,
    authorized,
    ensure_token,
    read_token,
    token_path,
)
from runner.state.state_store import SUCCESS, StateStore

ROOT = Path(__file__).resolve().parents[2]
CANARY = "canary-7f3a9c-do-not-log"


def _raw(url: str, request: bytes, timeout: float = 5.0) -> bytes:
    """Send bytes as they are and return the whole reply (the server closes after it)."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=timeout) as sock:
        sock.sendall(request)
        chunks = []
        while True:
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                break
            if not chunk:
                break
            chunks.append(chunk)
    return b"".join(chunks)


# ------------------------------------------------------------------ the token


def test_token_is_private_stable_and_where_alertmanager_looks(tmp_path: Path) -> None:
    state = tmp_path / "state"
    path = ensure_token(state)
    assert path == token_path(state)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    token = read_token(state)
    assert len(token) >= 40 and ensure_token(state).read_text().strip() == token
    # The committed config names the file relative to where it is staged.
    staged = state / "alertmanager" / "config"
    assert (staged / CREDENTIALS_FILE_FROM_CONFIG).resolve() == path.resolve()
    config = yaml.safe_load((ROOT / "generated/dev/alertmanager/alertmanager.yml").read_text())
    for receiver in config["receivers"]:
        (hook,) = receiver["webhook_configs"]
        auth = hook["http_config"]["authorization"]
        assert auth == {"type": "Bearer", "credentials_file": CREDENTIALS_FILE_FROM_CONFIG}
        assert hook["max_alerts"] == dispatcher.MAX_ALERTS_PER_PAYLOAD
    assert authorized(f"Bearer {token}", token) and authorized(f"bearer {token}", token)
    assert not authorized(f"Bearer {token}x", token) and not authorized(token, token)
    assert not authorized(None, token) and not authorized("Bearer ", "")


def test_alerts_need_the_token_and_json(monitor: tuple[str, Context]) -> None:  # noqa: F811
    url, ctx = monitor
    payload = _payload("DriftShareCritical", "telecom", "critical", "2026-11-29T10:00:00Z")
    no_token = httpx.post(f"{url}/alerts", json=payload, timeout=5)
    assert no_token.status_code == 401 and no_token.text == "unauthorized\n"
    wrong = httpx.post(f"{url}/alerts", json=payload, timeout=5,
                       headers={"Authorization": "Bearer not-the-token"})
    assert wrong.status_code == 401
    # A browser's cross-site form post can send text/plain only: refused, even with a token.
    form = httpx.post(f"{url}/alerts", content=json.dumps(payload), timeout=5,
                      headers={**_auth(ctx.state), "Content-Type": "text/plain"})
    assert form.status_code == 415
    assert store.events("alert.", state=ctx.state) == []  # none of them got in
    assert _post(url, ctx, payload).status_code == 200
    assert len(store.events(store.ALERT_RECEIVED, state=ctx.state)) == 1


def test_a_forged_start_time_neither_opens_the_window_nor_a_new_episode(
    monitor: tuple[str, Context],  # noqa: F811
) -> None:
    url, ctx = monitor
    (Path(ctx.platform.root) / "playbooks" / "rollback.yaml").write_text(
        "- name: rollback\n  tasks: []\n")
    db = StateStore(ctx.state)
    rev = db.add_revision("telecom", spec_hash="h", model_name="telecom-model",
                          model_version=2, actor="t", reason="deploy", outcome=SUCCESS)
    db.db.execute("UPDATE revisions SET created_at = created_at - 3600")  # an hour ago
    db.close()
    # The caller claims the alert started 10 s after that deploy.
    claimed = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(rev.created_at - 3590))
    payload = _payload("ErrorRateCritical", "telecom", "critical", claimed, fingerprint="f1")
    reply = _post(url, ctx, payload)
    assert reply.json() == {"status": "accepted", "alerts": 1}  # no deploy timing
    (decision,) = _actions(ctx, "f1")
    assert decision["outcome"] == "skipped"
    assert "outside the 600s post-deploy window" in decision["reason"]
    # Same alert, a new claimed start on every post: still one episode, not a new one.
    for minute in range(3):
        payload["alerts"][0]["startsAt"] = f"2026-11-29T10:0{minute}:00Z"
        _post(url, ctx, payload)
    assert [a["outcome"] for a in _actions(ctx, "f1")] == ["skipped"] + ["skipped"] * 3
    received = store.events(store.ALERT_RECEIVED, state=ctx.state)
    assert len({e["detail"]["starts_at"] for e in received}) == 1
    assert all(not e["detail"]["starts_at"].startswith("2026-11-29T10:0") for e in received)


# ------------------------------------------------------------------ hostile bodies


@pytest.mark.parametrize("body", [
    b'{"version": "4", "alerts": [], "x": NaN}',
    b'{"version": "4", "alerts": [], "x": Infinity}',
    b'{"version": "4", "alerts": [], "x": -Infinity}',
    b'{"version": "4", "alerts": [{"labels": {"alertname": "\\ud800"}}]}',
    b'{"version": "4", "alerts": [], "x": "\xff"}',
    b"[" * 100_000,
])
def test_hostile_json_is_a_400_without_a_traceback(
    monitor: tuple[str, Context], body: bytes, caplog: pytest.LogCaptureFixture,  # noqa: F811
) -> None:
    url, ctx = monitor
    headers = {**_auth(ctx.state), "Content-Type": "application/json"}
    with caplog.at_level(logging.INFO):
        reply = httpx.post(f"{url}/alerts", content=body, headers=headers, timeout=5)
    assert reply.status_code == 400
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
    assert store.events("alert.", state=ctx.state) == []


def test_too_many_alerts_bad_lengths_and_slow_clients(
    monitor: tuple[str, Context], monkeypatch: pytest.MonkeyPatch,  # noqa: F811
) -> None:
    url, ctx = monitor
    payload = _payload("CpuWarning", "telecom", "warning", "")
    payload["alerts"] = payload["alerts"] * (dispatcher.MAX_ALERTS_PER_PAYLOAD + 1)
    began = time.monotonic()
    assert _post(url, ctx, payload).status_code == 413
    assert time.monotonic() - began < 2
    assert store.events("alert.", state=ctx.state) == []
    auth = f"Authorization: Bearer {read_token(ctx.state)}\r\n".encode()
    head = b"POST /alerts HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" + auth
    reply = _raw(url, head + b"Content-Length: abc\r\n\r\n{}")
    assert reply.startswith(b"HTTP/1.1 400")
    reply = _raw(url, head + b"Content-Length: 99999999\r\n\r\n{}")
    assert reply.startswith(b"HTTP/1.1 413")
    # A client that stops half way through its body is dropped after the socket timeout.
    monkeypatch.setattr(server_mod.Handler, "timeout", 0.5)
    began = time.monotonic()
    reply = _raw(url, head + b"Content-Length: 100\r\n\r\n{", timeout=10)
    assert time.monotonic() - began < 5
    assert b"200" not in reply


class _SlowSink(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802
        self.rfile.read(int(self.headers["Content-Length"]))
        time.sleep(2.0)
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture()
def slow_sink(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    sink = ThreadingHTTPServer(("127.0.0.1", 0), _SlowSink)
    threading.Thread(target=sink.serve_forever, args=(0.05,), daemon=True).start()
    monkeypatch.setenv("MLGITOPS_WEBHOOK_URL", f"http://127.0.0.1:{sink.server_address[1]}/")
    yield
    sink.shutdown()
    sink.server_close()


def test_a_slow_notification_does_not_hold_up_other_alerts(
    monitor: tuple[str, Context], slow_sink: None,  # noqa: F811
) -> None:
    url, ctx = monitor
    critical = _payload("CpuCritical", "telecom", "critical", "", fingerprint="slow")
    first = threading.Thread(target=_post, args=(url, ctx, critical))
    first.start()
    deadline = time.monotonic() + 5
    while not store.events(store.ALERT_RECEIVED, state=ctx.state):  # it holds the sink now
        assert time.monotonic() < deadline
        time.sleep(0.02)
    began = time.monotonic()
    warning = _payload("CpuWarning", "bankchurn", "warning", "", fingerprint="quick")
    assert _post(url, ctx, warning).status_code == 200  # file sink only
    assert time.monotonic() - began < 1.0
    first.join(timeout=10)


# ------------------------------------------------------------------ secrets in logs


def test_the_notification_url_never_reaches_the_monitor_log(tmp_path: Path) -> None:
    received: list[bytes] = []

    class Sink(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            received.append(self.rfile.read(int(self.headers["Content-Length"])))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    sink = ThreadingHTTPServer(("127.0.0.1", 0), Sink)
    threading.Thread(target=sink.serve_forever, args=(0.05,), daemon=True).start()
    root = tmp_path / "repo"
    root.mkdir()
    for name in ("specs", "projects"):
        (root / name).symlink_to(ROOT / name)
    (root / "playbooks").mkdir()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    state = tmp_path / "state"
    env = {**os.environ, "MLGITOPS_STATE_DIR": str(state), "MLGITOPS_ROOT": str(root),
           "MLGITOPS_WEBHOOK_URL": f"http://127.0.0.1:{sink.server_address[1]}/h/{CANARY}"}
    log = tmp_path / "monitor.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(  # noqa: S603
            [sys.executable, "-m", "runner.monitor.server", "--port", str(port),
             "--root", str(root), "--state", str(state)],
            env=env, stdout=out, stderr=subprocess.STDOUT, cwd=tmp_path,
        )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        ctx = Context.__new__(Context)  # only .state is read by _post
        ctx.state = state
        payload = _payload("CpuCritical", "bankchurn", "critical", "", fingerprint="c1")
        assert _post(url, ctx, payload).status_code == 200
        assert received, "the webhook sink got nothing"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        sink.shutdown()
        sink.server_close()
    text = log.read_text()
    assert "POST /alerts" in text  # the log is written ...
    assert CANARY not in text  # ... and the sink's URL is not in it


def test_idle_connections_are_capped_not_given_a_thread_each(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from runner.spec import load_platform

    monkeypatch.setattr(server_mod, "MAX_CONNECTIONS", 3)
    monkeypatch.setenv("MLGITOPS_STATE_DIR", str(tmp_path / "state"))
    platform = load_platform(ROOT, "dev").model_copy(update={"root": str(tmp_path)})
    server = server_mod.make_server(Context(platform, tmp_path / "state"), "127.0.0.1", 0)
    server_mod.serve_in_thread(server)
    address = ("127.0.0.1", server.server_address[1])
    idle = [socket.create_connection(address, timeout=5) for _ in range(3)]
    try:
        for sock in idle:
            sock.sendall(b"POST /alerts HTTP/1.1\r\n")  # and then nothing
        time.sleep(0.3)
        threads = threading.active_count()
        with socket.create_connection(address, timeout=5) as extra:
            try:
                extra.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
                reply = extra.recv(100)
            except ConnectionResetError:  # closed with our request unread: a reset
                reply = b""
            assert reply == b""  # refused: closed without a reply
        assert threading.active_count() <= threads
        idle.pop().close()
        time.sleep(0.3)
        url = f"http://127.0.0.1:{address[1]}"
        assert httpx.get(f"{url}/health", timeout=5).status_code == 200
    finally:
        for sock in idle:
            sock.close()
        server.shutdown()
        server.server_close()
