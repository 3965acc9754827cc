"""Which testinfra backend reaches what: chosen from the platform spec, never guessed.

- ``verify.host`` in an environment spec (``ssh://user@host``): everything is checked
  over ssh on that host (a platform on another machine).
- else by ``platform.runtime``: ``local`` -> ``local://`` (this machine);
  ``docker``/``swarm`` -> ``docker://<container>`` per replica (the container the runtime's
  facts name: a docker replica's container name, a swarm task's container id; the
  platform's own daemons stay local); ``kubernetes`` -> ``kubectl://<pod>``.

Commands (``ps``, ``ss``, ``pip``) run on that host. HTTP probes go direct for
``local://`` and ``docker://``: every container of ours runs on the host network, so the
replica's 127.0.0.1 is this machine's (and the image has no ``curl``). Elsewhere they run
``curl`` on the host (a remote machine's or a pod's 127.0.0.1 is not ours).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from runner.runtime.base import ReplicaFact
    from runner.spec.models import Platform

LOCAL = "local://"
CONTAINER_RUNTIMES = frozenset({"docker", "swarm"})
# Backends whose 127.0.0.1 is this machine's: probed with httpx from here. docker: the
# Docker and Swarm runtimes start every container with the host network
# (runner/runtime/docker_engine.py, the rendered stack's default network).
DIRECT_HTTP = frozenset({"local", "docker"})
# Inside a container the replica is the container's first process (its entrypoint, or the
# engine's init in front of it): started as the container's user, like everything in it.
CONTAINER_PID = 1


def platform_host(platform: Platform) -> str:
    """Host spec of the platform itself (state dir, packages, MLflow, Prometheus)."""
    return platform.platform.verify.host or LOCAL


def replica_host(platform: Platform, fact: ReplicaFact) -> str:
    """Host spec that reaches one replica's process and sockets."""
    if platform.platform.verify.host:
        return platform.platform.verify.host
    runtime = platform.platform.runtime
    if runtime in CONTAINER_RUNTIMES:
        # A container fact's ``log`` is what ``docker logs``/``docker exec`` take: the
        # container's name (docker) or id (a swarm task's container). The replica name is
        # neither: docker prefixes it with ``mlgitops-<scope>-``, swarm names tasks itself.
        return f"docker://{fact.log or fact.replica}"
    if runtime == "kubernetes":
        return f"kubectl://{fact.replica}"
    return LOCAL


def replica_pid(platform: Platform, fact: ReplicaFact) -> int:
    """The pid to look the replica up by, as its host sees it: a container's own PID 1
    (a docker fact has no pid; a swarm task's is the host's, unknown inside)."""
    if not platform.platform.verify.host and platform.platform.runtime in CONTAINER_RUNTIMES:
        return CONTAINER_PID
    return fact.pid


def replica_admin_port(platform: Platform, fact: ReplicaFact) -> int:
    """The port a replica's own /health, /model_info and /metrics answer on.

    A swarm task's fact carries the service's public port, which every task of the
    service binds (SO_REUSEPORT): a probe there is answered by any task, so with two
    replicas one unhealthy or at another model version would pass as the other. The
    task's own admin port is read from the file its container holds (the one the
    container health check reads); the public port when that cannot be read (the task
    has not bound it yet)."""
    if platform.platform.verify.host or platform.platform.runtime != "swarm" \
            or not fact.running or not fact.log:
        return fact.admin_port
    from runner.runtime.swarm_targets import admin_port

    return admin_port(fact.log) or fact.admin_port


def process_owner(host: Any, pid: int) -> str | None:
    """The user a process runs as, by the name the toolkit's user has on this machine.

    In a container ``ps`` prints names from the image's ``/etc/passwd`` (a bare number
    for a uid it lacks, or an image user's name for one it happens to share), while the
    runtime starts containers with the uid of whoever runs the toolkit: the uid is looked
    up here instead, so the comparison is with this machine's user name."""
    procs = host.process.filter(pid=pid)
    if not procs:
        return None
    if _backend(host) != "docker":
        return str(procs[0].user)
    import pwd

    uid = int(procs[0].euid)
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def http_get(host: Any, url: str, timeout_s: float = 5.0) -> tuple[int, Any]:
    """GET ``url`` as seen from ``host`` (a testinfra Host or a spec); (status, JSON or text).

    Status 0 when nothing answered."""
    direct = host == LOCAL if isinstance(host, str) else _backend(host) in DIRECT_HTTP
    if direct:
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


def _backend(host: Any) -> str:
    return str(getattr(getattr(host, "backend", None), "NAME", ""))


def _body(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text
