"""The runner's exporter and alert webhook: one small HTTP process on 127.0.0.1:9108.

``python -m runner.monitor.server [--env dev] [--host H] [--port P] [--root R] [--state S]``

- ``GET /metrics``: the runner's metrics (``runner.monitor.exporter``), for Prometheus.
- ``POST /alerts``: Alertmanager's webhook (version 4 payload), see ``dispatcher``.
- ``GET /health``: 200 once serving (the runtime's health check).

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
from runner.monitor.dispatcher import Context, handle_payload
from runner.runtime.daemons import Daemon
from runner.spec.models import Platform

log = logging.getLogger("runner.monitor")
QUIET_PATHS = frozenset({"/metrics", "/health", "/-/healthy", "/-/ready"})
MAX_BODY = 4 * 1024 * 1024  # Alertmanager truncates groups long before this


class MonitorServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], ctx: Context, *, follow_specs: bool = False
                 ) -> None:
        super().__init__(address, Handler)
        self.ctx = ctx
        self.collector = exporter.RunnerCollector(sorted(ctx.platform.services), ctx.state)
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(self.collector)
        # One alert payload at a time: the ledger is file-locked anyway, and serialising
        # keeps the audit log in the order Alertmanager sent things.
        self.alert_lock = threading.Lock()
        self.follow_specs = follow_specs
        self._reload_lock = threading.Lock()
        self._signature = spec_signature(ctx.root) if follow_specs else ()

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
        else:
            self._send(404, b"not found\n")

    def do_POST(self) -> None:  # noqa: N802
        if self.path.split("?", 1)[0] != "/alerts":
            self._send(404, b"not found\n")
            return
        length = int(self.headers.get("Content-Length") or 0)
        if length <= 0 or length > MAX_BODY:
            self._send(400, b"missing or oversized body\n")
            return
        try:
            payload = json.loads(self.rfile.read(length))
        except ValueError:
            self._send(400, b"body is not JSON\n")
            return
        try:
            with self.server.alert_lock:
                self.server.refresh()
                result = handle_payload(payload, self.server.ctx)
        except ToolkitError as exc:
            # 4xx: Alertmanager does not retry a payload we can never accept.
            self._json(400, {"error": exc.one_line()})
            return
        except Exception as exc:  # noqa: BLE001 - 5xx makes Alertmanager retry later
            log.exception("alert handling failed")
            self._json(500, {"error": f"{type(exc).__name__}: {exc}"})
            return
        self._json(200, result)

    def _json(self, status: int, data: Any) -> None:
        self._send(status, json.dumps(data, default=str).encode(), "application/json")

    def _send(self, status: int, body: bytes, ctype: str = "text/plain; charset=utf-8") -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        # Scrapes and health probes arrive every few seconds forever: log only the rest.
        if self.command == "GET" and self.path.split("?", 1)[0] in QUIET_PATHS:
            return
        log.info("%s %s", self.address_string(), format % args)


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


def monitor_daemon(state: Path, root: Path, port: int = 9108, env_name: str = "dev") -> Daemon:
    """How the local runtime runs this process: a platform daemon like Prometheus or MLflow.

    ``runner.reconcile.platform`` starts it with ``runner.runtime.daemons.ensure`` (start
    unless answering, wait for /health) during ``inv up`` and stops it in ``inv down``.
    """
    return Daemon(
        name="monitor",
        argv=[
            sys.executable, "-m", "runner.monitor.server", "--env", env_name,
            "--port", str(port), "--root", str(root), "--state", str(state),
        ],
        port=port,
        health_path="/health",
        start_timeout_s=30.0,
    )


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
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
