"""The runner's exporter and alert webhook: one small HTTP process on 127.0.0.1:9108.

``python -m runner.monitor.server [--env dev] [--host H] [--port P] [--root R] [--state S]``

- ``GET /metrics``: the runner's metrics (``runner.monitor.exporter``), for Prometheus.
- ``POST /alerts``: Alertmanager's webhook (version 4 payload), see ``dispatcher``. Only
  JSON with the bearer token of ``webhook_token`` is read; bodies, alerts per payload,
  connections and idle clients are bounded, and the reply reveals nothing of what was
  decided (that is in the audit log).
- ``GET /health``: 200 once serving (the runtime's health check).
- ``GET /`` (and ``/status.css``): the read-only status page (``status_page``): no
  secrets, no script, security headers, nothing changed by looking.

The standard library's ThreadingHTTPServer is enough: two routes, a scrape every few
seconds and a webhook now and then. It starts in about 0.2 s, needs no ASGI stack, and a
slow notification sink on one request does not block a scrape on another thread.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import CollectorRegistry

from runner.errors import ToolkitError
from runner.monitor import exporter
from runner.monitor.daemon import monitor_daemon  # noqa: F401 - where callers look
from runner.monitor.dispatcher import Context, TooManyAlerts, accept, act, notify
from runner.monitor.status_page import SECURITY_HEADERS, StatusPage
from runner.monitor.webhook_token import authorized, ensure_token, read_token
from runner.spec.models import Platform

log = logging.getLogger("runner.monitor")
# Polled all day (scrapes, probes, the status page's own refresh): not logged.
QUIET_PATHS = frozenset({"/metrics", "/health", "/-/healthy", "/-/ready", "/", "/status",
                         "/status.css"})
MAX_BODY = 1024 * 1024  # 100 alerts (the cap) of Alertmanager's are about 200 KiB
SOCKET_TIMEOUT_S = 10.0
MAX_CONNECTIONS = 64  # one thread each; more at once are refused, not queued as threads
HTTP_LOGGERS = ("httpx", "httpcore")  # INFO lines carry full URLs, and sink URLs hold tokens


class MonitorServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], ctx: Context, *, follow_specs: bool = False
                 ) -> None:
        super().__init__(address, Handler)
        self.ctx = ctx
        ensure_token(ctx.state)  # Alertmanager reads the same file (see webhook_token)
        self._slots = threading.BoundedSemaphore(MAX_CONNECTIONS)
        self.collector = exporter.RunnerCollector(
            sorted(ctx.platform.services), ctx.state, ctx.platform.platform.environment)
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(self.collector)
        # One alert payload at a time: the ledger is file-locked anyway, and serialising
        # keeps the audit log in the order Alertmanager sent things.
        self.alert_lock = threading.Lock()
        self.follow_specs = follow_specs
        self._reload_lock = threading.Lock()
        self._signature = spec_signature(ctx.root) if follow_specs else ()
        self.status_page = StatusPage()

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            self.shutdown_request(request)  # at capacity: drop it rather than add a thread
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def refresh(self) -> None:
        """Reload the platform when a spec file changed (alert_actions, sinks, services).

        The monitor runs for days while people commit spec changes (a rollback commits one);
        a spec that no longer validates keeps the last good platform and says so in the log.
        """
        if not self.follow_specs:
            return
        with self._reload_lock:
            signature = spec_signature(self.ctx.root)
            if signature == self._signature:
                return
            self._signature = signature
            try:
                fresh = load_context(self.ctx.env, self.ctx.root, self.ctx.state)
            except ToolkitError as exc:
                log.warning("specs changed but do not validate; keeping the last good ones: %s",
                            exc.one_line().splitlines()[0])
                return
            self.ctx = fresh
            self.collector.services = sorted(fresh.platform.services)
            log.info("specs changed: reloaded the platform")


def spec_signature(root: Path) -> tuple[tuple[str, int, int], ...]:
    """Name, mtime and size of every spec file: cheap enough to check per request (the size
    catches two edits within one tick of the file system's clock)."""
    out = []
    for path in sorted((root / "specs").rglob("*.yaml")):
        try:
            info = path.stat()
            out.append((str(path), info.st_mtime_ns, info.st_size))
        except OSError:
            continue
    return tuple(out)


class Handler(BaseHTTPRequestHandler):
    server: MonitorServer
    protocol_version = "HTTP/1.1"
    # A client that sends nothing for this long is dropped (socketserver applies it to the
    # connection): half-sent requests must not pin threads for ever.
    timeout = SOCKET_TIMEOUT_S

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        path = self.path.split("?", 1)[0]
        if path == "/metrics":
            self.server.refresh()
            try:
                body = generate_latest(self.server.registry)
            except Exception as exc:  # noqa: BLE001 - a scrape must fail visibly, not hang
                log.exception("collect failed")
                self._send(500, f"collect failed: {type(exc).__name__}: {exc}\n".encode())
                return
            self._send(200, body, CONTENT_TYPE_LATEST)
        elif path in ("/health", "/-/healthy", "/-/ready"):
            self._send(200, b"ok\n")
        elif path in ("/", "/status"):
            self.server.refresh()
            try:
                body = self.server.status_page.html(self.server.ctx)
            except Exception as exc:  # noqa: BLE001 - the page fails visibly, the monitor lives
                log.exception("status page failed")
                self._send(500, f"status page failed: {type(exc).__name__}\n".encode(),
                           extra=SECURITY_HEADERS)
                return
            self._send(200, body, "text/html; charset=utf-8", extra=SECURITY_HEADERS)
        elif path == "/status.css":
            self._send(200, self.server.status_page.stylesheet(), "text/css; charset=utf-8",
                       extra=SECURITY_HEADERS)
        else:
            self._send(404, b"not found\n")

    def do_POST(self) -> None:  # noqa: N802
        if self.path.split("?", 1)[0] != "/alerts":
            self._send(404, b"not found\n")
            return
        # Nothing about the request is looked at before the token: an unauthenticated
        # caller learns only that it is not authorised.
        if not authorized(self.headers.get("Authorization"), read_token(self.server.ctx.state)):
            self._send(401, b"unauthorized\n", extra={"WWW-Authenticate": "Bearer"})
            return
        ctype = (self.headers.get("Content-Type") or "").split(";", 1)[0].strip().lower()
        if ctype != "application/json":  # also refuses a browser's text/plain form post
            self._send(415, b"Content-Type must be application/json\n")
            return
        body = self._body()
        if body is None:
            return
        payload = parse_json(body)
        if payload is None:
            self._send(400, b"body is not valid JSON\n")
            return
        try:
            alerts = accept(payload)
            with self.server.alert_lock:
                self.server.refresh()
                ctx = self.server.ctx
                act(alerts, ctx)
            notify(alerts, ctx)  # off the lock: a slow sink must not hold up other alerts
        except TooManyAlerts as exc:
            self._json(413, {"error": exc.one_line()})
            return
        except ToolkitError as exc:
            # 4xx: Alertmanager does not retry a payload we can never accept.
            self._json(400, {"error": exc.one_line()})
            return
        except Exception:  # noqa: BLE001 - 5xx makes Alertmanager retry later
            log.exception("alert handling failed")
            self._json(500, {"error": "alert handling failed; see the monitor's log"})
            return
        # What was decided is in the audit log; the reply says nothing about deploys.
        self._json(200, {"status": "accepted", "alerts": len(alerts)})

    def _body(self) -> bytes | None:
        """The request body, or None after answering 400/411/413/408 for a bad one."""
        raw = self.headers.get("Content-Length")
        if raw is None:
            self._send(411, b"Content-Length required\n")
            return None
        if not raw.strip().isdigit():
            self._send(400, b"Content-Length is not a number\n")
            return None
        length = int(raw)
        if length == 0:
            self._send(400, b"empty body\n")
            return None
        if length > MAX_BODY:
            self._send(413, b"body too large\n")
            return None
        try:
            body = self.rfile.read(length)  # bounded by the socket timeout (Handler.timeout)
        except TimeoutError:
            self.close_connection = True
            return None
        if len(body) < length:
            self.close_connection = True
            self._send(400, b"body shorter than Content-Length\n")
            return None
        return body

    def _json(self, status: int, data: Any) -> None:
        self._send(status, json.dumps(data, default=str).encode(), "application/json")

    def _send(self, status: int, body: bytes, ctype: str = "text/plain; charset=utf-8",
              extra: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        if status >= 400 and self.command == "POST":
            # The body may be unread: the connection cannot carry another request.
            self.close_connection = True
            self.send_header("Connection", "close")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        # Scrapes and health probes arrive every few seconds forever: log only the rest.
        if self.command == "GET" and self.path.split("?", 1)[0] in QUIET_PATHS:
            return
        log.info("%s %s", self.address_string(), format % args)


def parse_json(body: bytes) -> Any | None:
    """Strict JSON: UTF-8, no NaN or Infinity, no lone surrogates; None when not."""
    try:
        payload = json.loads(body.decode("utf-8"), parse_constant=_refuse_constant)
        # A lone surrogate ("\ud800") parses, then fails every later encode (audit, sinks).
        json.dumps(payload, ensure_ascii=False).encode("utf-8")
    except (ValueError, UnicodeError, RecursionError):
        return None
    return payload


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def quiet_http_loggers() -> None:
    """HTTP client libraries log every request URL at INFO; webhook URLs embed tokens."""
    for name in HTTP_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


def make_server(ctx: Context, host: str | None = None, port: int | None = None, *,
                follow_specs: bool = False) -> MonitorServer:
    """Bind the server (port 0 picks a free port: ``server.server_address[1]``).

    ``follow_specs``: reload the platform from ``<root>/specs`` when a spec file changes.
    """
    listener = ctx.platform.platform.monitoring.exporter
    address = (host or listener.host, listener.port if port is None else port)
    return MonitorServer(address, ctx, follow_specs=follow_specs)


def serve_in_thread(server: MonitorServer) -> threading.Thread:
    """Run ``server`` on a daemon thread (tests and embedding); stop with ``shutdown()``."""
    # A short poll interval: shutdown() waits for it, and tests stop servers often.
    thread = threading.Thread(
        target=server.serve_forever, args=(0.1,), name="monitor", daemon=True
    )
    thread.start()
    return thread


def load_context(env: str, root: Path | None = None, state: Path | None = None) -> Context:
    """The platform of ``root`` (default: MLGITOPS_ROOT or the checkout) and its state dir."""
    from runner.spec import load_platform
    from runner.state.paths import repo_root, state_dir

    root = (root or repo_root()).resolve()
    platform: Platform = load_platform(root, env)
    if state is None:
        state = state_dir(root, platform.platform.state_dir)
    return Context(platform, state.resolve(), env)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m runner.monitor.server")
    parser.add_argument("--env", default="dev")
    parser.add_argument("--host", default=None)
    parser.add_argument("--port", type=int, default=None)
    parser.add_argument("--root", type=Path, default=None, help="repository root")
    parser.add_argument("--state", type=Path, default=None, help="state directory")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    quiet_http_loggers()
    try:
        ctx = load_context(args.env, args.root, args.state)
        server = make_server(ctx, args.host, args.port, follow_specs=True)
    except ToolkitError as exc:
        print(exc.one_line(), file=sys.stderr)
        return exc.exit_code
    except OSError as exc:
        print(f"cannot listen: {exc.strerror}", file=sys.stderr)
        return 1
    host, port = server.server_address[:2]
    log.info("monitor listening on http://%s:%s (state %s)", host, port, ctx.state)
    from runner.monitor import timers  # escalations due, scheduled backups

    stop = threading.Event()
    timers.start(lambda: server.ctx, stop)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        stop.set()
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
