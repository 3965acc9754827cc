"""Which testinfra backend reaches what: chosen from the platform spec, never guessed.

- ``verify.host`` in an environment spec (``ssh://user@host``): everything is checked
  over ssh on that host (a platform on another machine).
- else by ``platform.runtime``: ``local`` -> ``local://`` (this machine);
  ``docker``/``swarm`` -> ``docker://<container>`` per replica (the container named in the
  runtime's facts; the platform's own daemons stay local); ``kubernetes`` ->
  ``kubectl://<pod>``.

HTTP probes go through the same host: directly for ``local://``, with ``curl`` on the
host otherwise (a remote replica's 127.0.0.1 is not ours).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from runner.runtime.base import ReplicaFact
    from runner.spec.models import Platform

LOCAL = "local://"


def platform_host(platform: Platform) -> str:
    """Host spec of the platform itself (state dir, packages, MLflow, Prometheus)."""
    return platform.platform.verify.host or LOCAL


def replica_host(platform: Platform, fact: ReplicaFact) -> str:
    """Host spec that reaches one replica's process and sockets."""
    if platform.platform.verify.host:
        return platform.platform.verify.host
    runtime = platform.platform.runtime
    # A container runtime's facts may name the container; else the replica name is used.
    container = str(getattr(fact, "container", "") or fact.replica)
    if runtime in ("docker", "swarm"):
        return f"docker://{container}"
    if runtime == "kubernetes":
        return f"kubectl://{container}"
    return LOCAL


def http_get(host: Any, url: str, timeout_s: float = 5.0) -> tuple[int, Any]:
    """GET ``url`` as seen from ``host`` (a testinfra Host or a spec); (status, JSON or text).

    Status 0 when nothing answered."""
    spec = host if isinstance(host, str) else _spec(host)
    if spec == LOCAL:
        import httpx

        try:
            response = httpx.get(url, timeout=timeout_s)
        except httpx.HTTPError:
            return 0, None
        return response.status_code, _body(response.text)
    cmd = host.run("curl -s -m %s -w '\\n%%{http_code}' %s", str(int(timeout_s)), url)
    text, _, code = cmd.stdout.rpartition("\n")
    try:
        return int(code), _body(text)
    except ValueError:
        return 0, None


def _spec(host: Any) -> str:
    backend = getattr(host, "backend", None)
    return LOCAL if getattr(backend, "NAME", "") == "local" else "remote"


def _body(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text
