"""Network modules: http (one request, status checked) and wait_for (port or URL up/down).

httpx is imported on first use; one client is shared by the whole run (keep-alive) and
closed at its end. Neither module changes anything, so both report ``ok``; in check mode
``http`` still sends safe requests (GET/HEAD/OPTIONS) and only describes the others.
"""

from __future__ import annotations

import socket
import time
from typing import Any, Literal
from urllib.parse import urlparse

from pydantic import BaseModel, ConfigDict, Field, model_validator

from runner.playbook.modules import Module, ModuleContext
from runner.playbook.result import Result

_SAFE = frozenset({"GET", "HEAD", "OPTIONS"})
_BODY_LIMIT = 64 * 1024


def client(ctx: ModuleContext) -> Any:
    """The run's shared httpx client."""
    http = ctx.cache.get("http.client")
    if http is None:
        import httpx

        http = ctx.cache["http.client"] = httpx.Client(follow_redirects=False, trust_env=False)
        ctx.cache.setdefault("closers", []).append(http.close)
    return http


class HttpArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: str
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"] = "GET"
    json_body: Any = Field(default=None, alias="json")
    headers: dict[str, str] = Field(default_factory=dict)
    status: int | list[int] = 200
    timeout: float = 10.0

    @model_validator(mode="before")
    @classmethod
    def _upper(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("method"), str):
            data = {**data, "method": data["method"].upper()}
        return data


class Http(Module):
    """One HTTP request; fails unless the status is the expected one(s).

    Registers ``status``, ``json`` (when the body is JSON), ``content`` (text, capped) and
    ``elapsed_s``.
    """

    Args = HttpArgs

    def run(self, args: HttpArgs, ctx: ModuleContext) -> Result:
        if ctx.check_mode and args.method not in _SAFE:
            return Result(changed=False, msg=f"check mode: would {args.method} {args.url}",
                          skipped=True)
        import httpx

        expected = args.status if isinstance(args.status, list) else [args.status]
        start = time.perf_counter()
        try:
            resp = client(ctx).request(
                args.method, args.url, json=args.json_body, headers=args.headers or None,
                timeout=args.timeout,
            )
        except httpx.HTTPError as exc:
            return Result(failed=True, msg=f"{args.method} {args.url}: {type(exc).__name__}: "
                          f"{exc}".rstrip(": "), data={"status": -1})
        elapsed = time.perf_counter() - start
        data: dict[str, Any] = {
            "status": resp.status_code,
            "content": resp.text[:_BODY_LIMIT],
            "elapsed_s": round(elapsed, 4),
            "url": args.url,
        }
        if "json" in resp.headers.get("content-type", ""):
            try:
                data["json"] = resp.json()
            except ValueError:
                pass
        if resp.status_code not in expected:
            body = resp.text.strip().replace("\n", " ")[:200]
            return Result(failed=True, data=data, msg=(
                f"{args.method} {args.url}: HTTP {resp.status_code} (expected "
                f"{', '.join(map(str, expected))}){': ' + body if body else ''}"))
        return Result(msg=f"{args.method} {args.url}: HTTP {resp.status_code} in "
                      f"{elapsed * 1000:.0f} ms", data=data)


class WaitForArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")
    port: int | None = None
    host: str = "127.0.0.1"
    url: str | None = None
    status: int = 200
    state: Literal["started", "stopped"] = "started"
    timeout: float = 30.0
    sleep: float = 0.2

    @model_validator(mode="after")
    def _target(self) -> WaitForArgs:
        if (self.port is None) == (self.url is None):
            raise ValueError("give exactly one of port or url")
        return self


class WaitFor(Module):
    """Poll a TCP port or a URL until it is up (or, ``state: stopped``, down), or time out."""

    Args = WaitForArgs

    def run(self, args: WaitForArgs, ctx: ModuleContext) -> Result:
        target = args.url or f"{args.host}:{args.port}"
        if ctx.check_mode:
            # What we would wait for is what the (not executed) previous tasks would start.
            return Result(skipped=True, msg=f"check mode: would wait for {target} {args.state}")
        want_up = args.state == "started"
        start = time.monotonic()
        deadline = start + args.timeout
        last = ""
        while True:
            up, last = self._probe(args, ctx)
            if up == want_up:
                waited = time.monotonic() - start
                return Result(msg=f"{target} {args.state} after {waited:.2f}s",
                              data={"elapsed_s": round(waited, 3)})
            if time.monotonic() >= deadline:
                return Result(failed=True, msg=f"timed out after {args.timeout:g}s waiting for "
                              f"{target} {args.state}" + (f" (last: {last})" if last else ""))
            time.sleep(args.sleep)

    def _probe(self, args: WaitForArgs, ctx: ModuleContext) -> tuple[bool, str]:
        if args.url is not None:
            import httpx

            try:
                resp = client(ctx).get(args.url, timeout=max(0.5, min(args.timeout, 2.0)))
            except httpx.HTTPError as exc:
                return False, type(exc).__name__
            return resp.status_code == args.status, f"HTTP {resp.status_code}"
        assert args.port is not None
        try:
            with socket.create_connection((args.host, args.port), timeout=0.5):
                return True, "open"
        except OSError as exc:
            return False, exc.strerror or type(exc).__name__


def host_of(url: str) -> str:
    """The host part of a URL (for messages that must not echo query strings)."""
    return urlparse(url).netloc
