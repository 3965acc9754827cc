"""Request metrics as a plain ASGI middleware (no per-request task or body buffering).

Starlette's BaseHTTPMiddleware costs a task and a stream per request; this wrapper costs
a clock read and two metric updates, which matters against a floor of ~1 ms per predict.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any

from runner.serving.metrics import ServiceMetrics

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

log = logging.getLogger("mlgitops.serving")

# Unknown paths share one label so a scanner cannot blow up the label cardinality.
OTHER = "other"


class MetricsMiddleware:
    """Count every HTTP request by endpoint, method and status; time it by endpoint."""

    def __init__(self, app: ASGIApp, metrics: ServiceMetrics, endpoints: Iterable[str]) -> None:
        self.app = app
        self.metrics = metrics
        self.endpoints = frozenset(endpoints)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        endpoint = path if path in self.endpoints else OTHER
        status = 500  # what the client gets if the app raises before answering
        start = time.perf_counter()

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            elapsed = time.perf_counter() - start
            self.metrics.latency.labels(endpoint=endpoint).observe(elapsed)
            self.metrics.requests.labels(
                endpoint=endpoint, method=scope["method"], status=str(status)
            ).inc()
            # 503 is the expected answer while the model loads; anything else 5xx is news.
            if status >= 500 and status != 503:
                log.warning("%s %s -> %d in %.1f ms", scope["method"], path, status, elapsed * 1e3)
