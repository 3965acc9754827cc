"""A replica process: ``python -m runner.serving.launch`` (configuration from the environment).

Sockets are created here, not by uvicorn, for the rolling switch:

* the public socket (``PORT``) is bound with SO_REUSEPORT, so an old and a new replica
  listen on the same port at once and the kernel spreads new connections over both;
* with an ``ADMIN_PORT``, the public socket starts *listening* only once the model has
  loaded and passed its self-test. A replica that is still loading (or never loads)
  therefore takes no public traffic, while its admin port already answers /health with
  503 and /metrics. Without an admin port the public port is the only one and listens at
  once, answering 503 until the model is ready.

SIGTERM (and SIGINT) stop accepting, *drain* (below), let in-flight requests finish
(uvicorn's graceful shutdown, bounded by ``timeout_graceful_shutdown``), flush the
prediction log and exit.

Draining keep-alive connections (issue 13): closing a connection while its client is
sending a request on it fails that request (the client reads a reset or an EOF), so a
draining replica never closes a connection a client may be using. Every response on a
draining port carries ``Connection: close`` (then uvicorn closes that connection, and the
client knows not to reuse it); a connection with no request in progress is closed only
once it has been idle ``DRAIN_IDLE_S`` (a busy client would have sent its next request by
then); after ``DRAIN_MAX_S`` whatever is left is shut down as before.

SIGUSR1 *parks* the replica (warm standby for a fast rollback, issue 4): the public
listener closes and its connections drain as above, but the model stays loaded and the
admin port up (/health answers 503 while parked).
SIGUSR2 reopens the public listener. A replica parked for ``MLGITOPS_STANDBY_TTL_S``
seconds exits by itself, so a forgotten standby does not hold memory for ever.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import sys
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

import uvicorn

from runner.errors import TemporaryError, ToolkitError
from runner.serving import logfile
from runner.serving.app import create_app
from runner.serving.config import ServingConfig
from runner.serving.definition import load_definition
from runner.serving.healthcheck import admin_port_file
from runner.serving.model_loading import ModelHolder

log = logging.getLogger("mlgitops.serving")

GRACEFUL_SHUTDOWN_S = 20
READY_POLL_S = 0.05
# Drain (see the module doc): idle time after which a connection is closed, and the bound.
# DRAIN_MAX_S stays under the runtimes' SIGTERM-to-SIGKILL wait (10 s) and park timeout.
DRAIN_IDLE_S = 1.0
DRAIN_MAX_S = 6.0
DRAIN_POLL_S = 0.02
KEEP_ALIVE_S = 5
STANDBY_TTL_S = 900.0  # default for MLGITOPS_STANDBY_TTL_S (the runtime reads it too)


def bind_socket(host: str, port: int, *, reuse_port: bool) -> socket.socket:
    """A bound, not yet listening TCP socket (asyncio's create_server calls listen)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise TemporaryError(f"cannot bind {host}:{port}: {exc.strerror}") from None
    return sock


Message = MutableMapping[str, Any]
ASGIApp = Callable[[MutableMapping[str, Any], Any, Any], Awaitable[None]]


class DrainGate:
    """ASGI wrapper: responses on a draining port carry ``Connection: close``.

    Checked when the response starts (not when the request arrived), so a request that
    was in progress when the drain began is told too.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.ports: set[int] = set()  # public ports draining (park)
        self.everything = False  # every port (shutdown)

    def draining(self, scope: MutableMapping[str, Any]) -> bool:
        if self.everything:
            return True
        server = scope.get("server")
        return bool(self.ports) and server is not None and server[1] in self.ports

    async def __call__(self, scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_gated(message: Message) -> None:
            if message["type"] == "http.response.start" and self.draining(scope):
                headers = [h for h in message.get("headers", []) if h[0].lower() != b"connection"]
                message = {**message, "headers": [*headers, (b"connection", b"close")]}
            await send(message)

        await self.app(scope, receive, send_gated)


def local_port(conn: Any) -> int | None:
    transport = getattr(conn, "transport", None)
    sockname = transport.get_extra_info("sockname") if transport else None
    return int(sockname[1]) if sockname else None


def idle_since(conn: Any, began: float) -> float | None:
    """When a uvicorn connection last finished a response (``began`` for one that has
    not had a request yet); None while a request is in progress."""
    cycle = getattr(conn, "cycle", None)
    if cycle is not None and not cycle.response_complete:
        return None
    timer = getattr(conn, "timeout_keep_alive_task", None)
    if timer is None:
        return began  # accepted, nothing received yet (or closing)
    return float(timer.when()) - float(conn.timeout_keep_alive)


class ReplicaServer(uvicorn.Server):
    """uvicorn's Server, plus a public socket that opens once the model is ready."""

    def __init__(
        self,
        config: uvicorn.Config,
        holder: ModelHolder,
        deferred: socket.socket | None,
        gate: DrainGate,
    ) -> None:
        super().__init__(config)
        self.holder = holder
        self.gate = gate
        self.deferred = deferred
        self.public_open = asyncio.Event()
        self._opener: asyncio.Task[None] | None = None
        self._public: asyncio.Server | None = None
        self._public_addr: tuple[str, int] | None = None
        self._expiry: asyncio.TimerHandle | None = None
        self._parking: asyncio.Lock | None = None
        self._signalled: set[asyncio.Task[None]] = set()  # kept referenced until done

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.deferred is None:
            self.public_open.set()
        else:
            self._opener = asyncio.create_task(self._open_when_ready(self.deferred))
            loop = asyncio.get_running_loop()
            self._parking = asyncio.Lock()
            loop.add_signal_handler(signal.SIGUSR1, self._on_park_signal, True)
            loop.add_signal_handler(signal.SIGUSR2, self._on_park_signal, False)

    async def _open_when_ready(self, sock: socket.socket) -> None:
        while not self.should_exit and self.holder.state == "loading":
            await asyncio.sleep(READY_POLL_S)
        if self.should_exit or self.holder.state != "ready":
            log.error("public port stays closed: %s", self.holder.reason or self.holder.state)
            return
        await self._listen(sock)

    async def _listen(self, sock: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        config = self.config

        # The same protocol factory uvicorn's own startup uses for the sockets it is given.
        def protocol() -> Any:
            return config.http_protocol_class(  # type: ignore[call-arg]
                config=config,
                server_state=self.server_state,
                app_state=self.lifespan.state,
                _loop=loop,
            )

        server = await loop.create_server(protocol, sock=sock, backlog=config.backlog)
        self.servers.append(server)  # closed with the others on shutdown
        self._public = server
        self.holder.public_open = True  # only now may /health say healthy
        self.public_open.set()
        host, port = sock.getsockname()[:2]
        self._public_addr = (host, port)
        log.info("public port open on %s:%d", host, port)

    # ------------------------------------------------------------ warm standby

    def _on_park_signal(self, park: bool) -> None:
        task = asyncio.ensure_future(self._set_parked(park))
        self._signalled.add(task)
        task.add_done_callback(self._signalled.discard)

    async def _set_parked(self, park: bool) -> None:
        assert self._parking is not None
        async with self._parking:  # a park and an unpark never interleave
            if park and self._public is not None:
                await self._park(self._public)
            elif not park and self._public is None and self._public_addr is not None:
                if self._expiry is not None:
                    self._expiry.cancel()
                try:
                    await self._listen(bind_socket(*self._public_addr, reuse_port=True))
                except TemporaryError as exc:
                    log.error("cannot unpark: %s", exc.one_line())

    async def _park(self, server: asyncio.Server) -> None:
        # Stop listening, then drain the public connections (module doc) so keep-alive
        # clients move to the replicas that now serve without losing a request.
        self._public = None
        server.close()
        self.servers.remove(server)
        port = self._public_addr[1] if self._public_addr else None
        if port is not None:
            self.gate.ports.add(port)
            try:
                await self.drain(port)
            finally:
                self.gate.ports.discard(port)
        self.holder.public_open = False  # /health: 503 only once no longer listening
        ttl = float(os.environ.get("MLGITOPS_STANDBY_TTL_S", STANDBY_TTL_S))
        self._expiry = asyncio.get_running_loop().call_later(ttl, self._expire)
        log.info("parked: public port closed, model kept loaded (standby for %.0f s)", ttl)

    def _expire(self) -> None:
        log.info("standby time over: exiting")
        self.should_exit = True

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        if self._opener is not None and not self._opener.done():
            self._opener.cancel()
        if self._expiry is not None:
            self._expiry.cancel()
        # Rolling switch (issue 4): stop listening first, then drain (module doc).
        # uvicorn's shutdown closes every connection with no request in progress at once,
        # which fails a client whose request was still in flight, or a keep-alive client
        # about to reuse its connection (issue 13: 2 failures in 3,156 at 100 rps).
        for server in self.servers:
            server.close()
        self.gate.everything = True
        await self.drain(None)
        await super().shutdown(sockets=sockets)

    async def drain(self, port: int | None) -> None:
        """Wait until the connections on ``port`` (None: all) are closed: each after a
        response telling its client, or once idle ``DRAIN_IDLE_S``; at most DRAIN_MAX_S."""
        loop = asyncio.get_running_loop()
        began = loop.time()
        while True:
            conns = [c for c in self.server_state.connections
                     if port is None or local_port(c) == port]
            now = loop.time()
            if not conns or now - began >= DRAIN_MAX_S:
                break
            for conn in conns:
                since = idle_since(conn, began)
                if since is not None and now - since >= DRAIN_IDLE_S:
                    conn.shutdown()  # no request in progress: closes it now
            await asyncio.sleep(DRAIN_POLL_S)
        for conn in conns:
            conn.shutdown()  # at the bound: idle ones close now, busy ones after answering
        if conns:
            log.warning("drain bound reached: %d connection(s) shut down", len(conns))


def write_admin_port(port: int) -> None:
    """Say which free port the admin socket got (``ADMIN_PORT=0``).

    Swarm starts a service's new task while the old one still runs (start-first) on the
    same host network, so a fixed admin port would collide; each task binds a free one
    and the container's health check reads it from this file."""
    path = admin_port_file()
    tmp = path.with_suffix(".tmp")
    tmp.write_text(f"{port}\n")
    tmp.replace(path)  # the probe never reads a half-written file


def build_server(config: ServingConfig) -> tuple[ReplicaServer, list[socket.socket]]:
    """The server and the sockets to pass to ``run``; binds now so a busy port fails early."""
    definition = load_definition(config.project_dir)
    # With an admin port the public one opens after the model is ready (see module doc).
    holder = ModelHolder(public_open=config.admin_port is None)
    gate = DrainGate(create_app(config, definition, holder))
    public = bind_socket(config.host, config.port, reuse_port=True)
    if config.admin_port is not None:
        admin = bind_socket(config.host, config.admin_port, reuse_port=False)
        if config.admin_port == 0:  # any free port: say which, for the container's probe
            write_admin_port(int(admin.getsockname()[1]))
        sockets, deferred = [admin], public
    else:
        sockets, deferred = [public], None
    uv_config = uvicorn.Config(
        gate,
        lifespan="on",
        access_log=config.access_log,
        log_level="info",
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
        timeout_keep_alive=KEEP_ALIVE_S,
        server_header=False,
        log_config=None,  # uvicorn's loggers propagate to ours (runner.serving.logfile)
    )
    return ReplicaServer(uv_config, holder, deferred, gate), sockets


def main() -> int:
    # One thread per prediction: a one-row predict gains nothing from OpenMP, and its
    # spin-waiting threads cost latency on shared cores. Replicas are the unit of scale.
    # Must be set before scikit-learn (and so libgomp) is loaded.
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    # Timestamped lines, to the file the runtime named (rotated here) or to stderr.
    log_file = os.environ.get("MLGITOPS_LOG_FILE")
    logfile.configure(Path(log_file) if log_file else None)
    try:
        config = ServingConfig.from_env()
        server, sockets = build_server(config)
    except ToolkitError as exc:
        print(f"replica not started: {exc.one_line()}", file=sys.stderr)
        return 2
    log.info(
        "replica of %s: public %s:%d, admin %s, model %s",
        config.service,
        config.host,
        config.port,
        "none" if config.admin_port is None else config.admin_port or "any free port",
        config.resolved_model_uri or "unset",
    )
    server.run(sockets=sockets)
    if server.deferred is not None and not server.public_open.is_set():
        server.deferred.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
