"""HTTP checks of one replica on its private admin port: /health, /model_info, a smoke prediction.

Plain ``http.client`` rather than httpx: ``inv plan`` checks every replica and must start
fast; these are tiny local requests with short timeouts.
"""

from __future__ import annotations

import http.client
import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from runner.runtime.base import ReplicaSpec


def request(
    port: int,
    path: str,
    *,
    method: str = "GET",
    body: Any = None,
    timeout_s: float = 2.0,
    host: str = "127.0.0.1",
) -> tuple[int, Any]:
    """One request; returns (status, parsed JSON or text). Status 0 when nothing answered."""
    conn = http.client.HTTPConnection(host, port, timeout=timeout_s)
    try:
        payload = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"} if payload is not None else {}
        conn.request(method, path, body=payload, headers=headers)
        resp = conn.getresponse()
        raw = resp.read()
        try:
            return resp.status, json.loads(raw) if raw else None
        except ValueError:
            return resp.status, raw.decode(errors="replace")
    except (OSError, http.client.HTTPException):
        return 0, None
    finally:
        conn.close()


def healthy(port: int, path: str = "/health", timeout_s: float = 1.0) -> bool:
    status, _ = request(port, path, timeout_s=timeout_s)
    return status == 200


def healthy_many(ports: list[tuple[int, str]], timeout_s: float = 1.0) -> list[bool]:
    """Health of many replicas at once (plan of 100 services stays well under a second)."""
    if not ports:
        return []
    with ThreadPoolExecutor(max_workers=min(32, len(ports))) as pool:
        return list(pool.map(lambda pp: healthy(pp[0], pp[1], timeout_s), ports))


def reported_version(info: Any) -> int | None:
    """The model version a /model_info body reports (tolerates the key spellings in use)."""
    if not isinstance(info, dict):
        return None
    for key in ("model_version", "version"):
        if key in info and info[key] is not None:
            try:
                return int(info[key])
            except (TypeError, ValueError):
                return None
    model = info.get("model")
    return reported_version(model) if isinstance(model, dict) else None


def verify(
    port: int,
    *,
    model_version: int,
    health_path: str = "/health",
    smoke_request: Path | None = None,
    timeout_s: float = 5.0,
) -> str | None:
    """Full candidate check; returns why it failed, or None when the replica is good."""
    status, body = request(port, health_path, timeout_s=timeout_s)
    if status != 200:
        return f"{health_path} answered {status or 'nothing'}: {short(body)}"
    status, info = request(port, "/model_info", timeout_s=timeout_s)
    if status != 200:
        return f"/model_info answered {status or 'nothing'}: {short(info)}"
    got = reported_version(info)
    if got != model_version:
        return f"/model_info reports model version {got}, expected {model_version}"
    if smoke_request is not None and smoke_request.is_file():
        sample = json.loads(smoke_request.read_text())
        status, out = request(port, "/predict", method="POST", body=sample, timeout_s=timeout_s)
        if status != 200:
            return f"smoke prediction answered {status or 'nothing'}: {short(out)}"
    return None


def short(body: Any) -> str:
    text = body if isinstance(body, str) else json.dumps(body)
    return text[:200]


def wait_verified(admin_port: int, spec: ReplicaSpec,
                  gone: Callable[[], str | None]) -> str | None:
    """Poll a candidate's admin port until it passes every check (``/health``, the pinned
    model version, the smoke request); None, or why it did not. ``gone`` says why the
    candidate stopped existing (a process exited, a container died), else None. Shared by
    every runtime so that all of them gate a replacement the same way."""
    import time

    deadline = time.monotonic() + spec.start_budget_s
    last = "not answering yet"
    while time.monotonic() < deadline:
        dead = gone()
        if dead is not None:
            return dead
        status, body = request(admin_port, spec.health_path, timeout_s=spec.health_timeout_s)
        if status and status != 200:
            last = f"{spec.health_path} answered {status}: {short(body)}"
            if isinstance(body, dict) and body.get("state") == "failed":
                return last  # the model failed to load: waiting will not fix it
        if status == 200:
            problem = verify(
                admin_port, model_version=spec.model_version,
                health_path=spec.health_path, smoke_request=spec.smoke_request,
                timeout_s=max(spec.health_timeout_s, 5.0),
            )
            if problem is None:
                return None
            last = problem
            if "model version" in problem or "smoke" in problem:
                return problem  # answering but wrong: waiting will not fix it
        time.sleep(min(spec.health_interval_s, 0.25))
    return f"not healthy after {spec.start_budget_s:.0f}s ({last})"
