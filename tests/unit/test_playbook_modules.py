"""Modules against real things: a local HTTP server, sockets, files, subprocesses."""

from __future__ import annotations

import io
import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from runner.playbook import RunResult, render_diff, run_playbook


class _Handler(BaseHTTPRequestHandler):
    received: list[dict[str, Any]] = []

    def log_message(self, *args: Any) -> None:  # keep test output clean
        pass

    def _send(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        if self.path == "/health":
            self._send(200, {"status": "ok", "version": 7})
        else:
            self._send(503, {"error": "not ready"})

    def do_POST(self) -> None:  # noqa: N802
        length = int(self.headers.get("Content-Length", 0))
        body = json.loads(self.rfile.read(length) or b"null")
        self.received.append({"path": self.path, "body": body})
        self._send(200, {"echo": body})


@pytest.fixture()
def server() -> Iterator[str]:
    _Handler.received = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run(tmp_path: Path, text: str, extra: dict[str, Any] | None = None,
        **kw: Any) -> tuple[RunResult, str]:
    path = tmp_path / "pb.yaml"
    path.write_text(text)
    out = io.StringIO()
    result = run_playbook(path, extra, output=out, state_dir=tmp_path / "state", root=tmp_path,
                          **kw)
    return result, out.getvalue()


def test_http_get_post_and_status(server: str, tmp_path: Path) -> None:
    result, out = run(tmp_path, """
- tasks:
    - http: {url: "{{ base }}/health"}
      register: health
    - http: {url: "{{ base }}/predict", method: post, json: {rows: "{{ rows }}"}}
      register: pred
    - assert:
        that:
          - health.json.version == 7
          - pred.json.echo.rows == [[1, 2]]
          - pred.status == 200
    - http: {url: "{{ base }}/missing", status: [200, 204]}
""", {"base": server, "rows": [[1, 2]]})
    assert result.exit_code == 1
    assert result.failures[0].msg.startswith(
        f"GET {server}/missing: HTTP 503 (expected 200, 204)")
    assert _Handler.received == [{"path": "/predict", "body": {"rows": [[1, 2]]}}]


def test_http_check_mode_sends_only_safe_requests(server: str, tmp_path: Path) -> None:
    result, out = run(tmp_path, """
- tasks:
    - http: {url: "{{ base }}/health"}
    - http: {url: "{{ base }}/predict", method: POST, json: {}}
""", {"base": server}, check=True)
    assert result.ok and _Handler.received == []
    assert [r.status for r in result.records] == ["ok", "skipped"]


def test_http_connection_refused_fails_and_retries(tmp_path: Path) -> None:
    result, _ = run(tmp_path, """
- tasks:
    - http: {url: "http://127.0.0.1:{{ port }}/health", timeout: 1}
      retries: 1
      delay: 0
""", {"port": free_port()})
    assert result.exit_code == 1
    assert "gave up after 2 attempts" in result.failures[0].msg
    assert "ConnectError" in result.failures[0].msg


def test_wait_for_port_and_url(server: str, tmp_path: Path) -> None:
    port = int(server.rsplit(":", 1)[1])
    closed = free_port()
    result, out = run(tmp_path, """
- tasks:
    - wait_for: {port: "{{ port }}", timeout: 5}
    - wait_for: {url: "{{ base }}/health", timeout: 5}
    - wait_for: {port: "{{ closed }}", state: stopped, timeout: 2}
    - wait_for: {port: "{{ closed }}", timeout: 0.3, sleep: 0.1}
""", {"port": port, "base": server, "closed": closed})
    assert [r.status for r in result.records] == ["ok", "ok", "ok", "failed"]
    assert f"timed out after 0.3s waiting for 127.0.0.1:{closed} started" in \
        result.failures[0].msg


def test_notify_file_and_webhook_without_leaking_the_url(server: str, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    secret_url = f"{server}/hook?token=s3cr3t"
    monkeypatch.setenv("TEST_WEBHOOK_URL", secret_url)
    result, out = run(tmp_path, """
- tasks:
    - name: tell the file
      notify: {msg: "rolled back {{ svc }}", file: notes/events.jsonl, level: warning}
    - name: tell the webhook
      notify: {msg: "rolled back {{ svc }}", webhook_env: TEST_WEBHOOK_URL}
    - name: unset sink
      notify: {msg: x, webhook_env: TEST_NOT_SET_URL}
      ignore_errors: true
""", {"svc": "bankchurn"})
    assert result.ok, out
    line = json.loads((tmp_path / "notes" / "events.jsonl").read_text())
    assert line["text"] == "rolled back bankchurn" and line["level"] == "warning"
    assert _Handler.received[0]["path"] == "/hook?token=s3cr3t"
    assert _Handler.received[0]["body"]["text"] == "rolled back bankchurn"
    assert "$TEST_NOT_SET_URL is not set" in out
    log = result.log_path.read_text()  # type: ignore[union-attr]
    assert "s3cr3t" not in out and "s3cr3t" not in log


def test_notify_keyword_and_module_side_by_side(tmp_path: Path) -> None:
    result, _ = run(tmp_path, """
- tasks:
    - copy: {content: x, dest: f}
      notify: note
  handlers:
    - name: note
      notify: {msg: handled, file: n.jsonl}
""")
    assert result.ok and json.loads((tmp_path / "n.jsonl").read_text())["text"] == "handled"


def test_command_options(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    result, _ = run(tmp_path, """
- tasks:
    - command:
        argv: [sh, -c, 'echo "$GREETING from $(basename "$PWD")"; cat']
        cwd: sub
        env: {GREETING: hello}
        stdin: piped
      register: r
    - command: {argv: [true], removes: sub/absent}
      register: guarded
    - command: [no-such-program-xyz]
      ignore_errors: true
      register: missing
    - assert:
        that:
          - r.stdout_lines == ['hello from sub', 'piped']
          - not guarded.changed
          - missing.rc == 127
""")
    assert result.ok, [r.msg for r in result.records]


def test_render_diff_shapes() -> None:
    text = render_diff({"before": "a\nb\n", "after": "a\nc\n", "before_header": "f"})
    assert text.splitlines()[:2] == ["--- f", "+++ after"]
    assert "-b" in text and "+c" in text
    data = render_diff({"before": {"replicas": 1}, "after": {"replicas": 2}})
    assert '-  "replicas": 1' in data and '+  "replicas": 2' in data
    assert render_diff({"before": "same", "after": "same"}) == ""
    assert render_diff("already unified") == "already unified\n"
    both = render_diff({"files": [{"before": "", "after": "x\n", "after_header": "one"},
                                  {"before": "", "after": "y\n", "after_header": "two"}]})
    assert "+++ one" in both and "+++ two" in both


def test_render_module_check_apply_rerun_prune(tmp_path: Path) -> None:
    import shutil

    repo = Path(__file__).resolve().parents[2]
    shutil.copytree(repo / "specs", tmp_path / "specs")
    for name in ("bankchurn", "carvision", "telecom"):  # specs check the project dirs exist
        shutil.copytree(repo / "projects" / name, tmp_path / "projects" / name,
                        ignore=shutil.ignore_patterns("data", "models", "__pycache__", "*.pkl"))
    book = "- tasks:\n    - render: {env: dev, prune: \"{{ prune }}\"}\n"
    check, out = run(tmp_path, book, {"prune": False}, check=True)
    assert [r.status for r in check.records] == ["changed"], out
    assert not (tmp_path / "generated").exists()
    apply, out = run(tmp_path, book, {"prune": False})
    written = sorted(p for p in (tmp_path / "generated" / "dev").rglob("*") if p.is_file())
    assert apply.records[0].msg == f"wrote {len(written)} of {len(written)} files in generated/dev/"
    stale = tmp_path / "generated" / "dev" / "old.yaml"
    stale.write_text("left over\n")
    again, out = run(tmp_path, book, {"prune": False})
    assert [r.status for r in again.records] == ["ok"], out
    assert "1 stale (prune: true removes them)" in again.records[0].msg
    pruned, out = run(tmp_path, book, {"prune": True}, diff=True)
    assert [r.status for r in pruned.records] == ["changed"] and not stale.exists()
    assert "-left over" in out
