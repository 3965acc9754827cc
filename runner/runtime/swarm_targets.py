"""Prometheus targets of a swarm stack's tasks: ``targets/<service>.json`` under the state
dir, the file_sd file the rendered ``prometheus.yml`` reads for each service, as the local
and Docker runtimes write it (one group per replica, labels ``service`` and ``replica``).

Why the Swarm runtime needs this: it wrote no targets file at all, so Prometheus on a
swarm platform scraped no replica (no serving metric, no alert could ever fire). Found by
``inv verify`` on a real swarm: "Prometheus has no target for bankchurn.1.<task>".

Each task is scraped on its own admin port, not on the public one: every task of a
service binds the public port (SO_REUSEPORT, start-first), so a scrape there reaches any
task and would file one task's counters under another's name. A task's admin port is a
free one it picked (``ADMIN_PORT=0``) and wrote to a file in its container
(``runner.serving.healthcheck.admin_port_file``); it is read through the engine's archive
API (no ``docker exec``, no process started in the container). A task whose port cannot be
read here is left out: it has not bound yet (it is retried at the next read, since the
listed tasks then differ from the running ones), or it runs on another node, whose
127.0.0.1 this host's Prometheus cannot reach anyway.
"""

from __future__ import annotations

import io
import json
import os
import tarfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from runner.images.docker_client import api_error, client
from runner.runtime.base import ReplicaFact

# runner/serving/healthcheck.admin_port_file() as a task's container sees it (the image
# sets no TMPDIR). Spelled out: runtime and serving are independent layers.
ADMIN_PORT_FILE = "/tmp/mlgitops-admin-port"  # noqa: S108 # nosec B108 - inside the container

PortReader = Callable[[str], "int | None"]


def admin_port(container: str) -> int | None:
    """The admin port a task's container wrote down; None when it cannot be read here."""
    try:
        stream, _ = client().api.get_archive(container, ADMIN_PORT_FILE)
        data = b"".join(stream)
    except api_error():  # not on this node, gone, or the file is not written yet
        return None
    try:
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            member = next(iter(tar.getmembers()), None)
            handle = tar.extractfile(member) if member is not None else None
            text = handle.read().decode() if handle is not None else ""
        port = int(text.strip())
    except (tarfile.TarError, ValueError, UnicodeDecodeError):
        return None
    return port if 0 < port < 65536 else None


def groups(facts: Iterable[ReplicaFact], read_port: PortReader = admin_port
           ) -> list[dict[str, Any]]:
    """file_sd groups: every running task whose admin port this host can read."""
    out = []
    for fact in facts:
        port = read_port(fact.log) if fact.running and fact.log else None
        if port is not None:
            out.append({"targets": [f"127.0.0.1:{port}"],
                        "labels": {"service": fact.service, "replica": fact.replica}})
    return out


def listed(targets_dir: Path, service: str) -> set[str]:
    """The replicas the service's targets file names now (empty when there is none)."""
    try:
        data = json.loads((targets_dir / f"{service}.json").read_text())
        return {str(g["labels"]["replica"]) for g in data}
    except (OSError, ValueError, KeyError, TypeError):
        return set()


def sync(targets_dir: Path, service: str, facts: Iterable[ReplicaFact],
         read_port: PortReader = admin_port) -> bool:
    """Rewrite ``targets/<service>.json`` when the running tasks differ from those it
    lists; True when written. Cheap when nothing changed (one small file read), so it
    runs on every health-checked read of the facts: the swarm replaces tasks on its own
    (a crashed container, a node lost), with no converge of ours to write the file."""
    facts = list(facts)
    running = {f.replica for f in facts if f.running and f.log}
    if running == listed(targets_dir, service):  # a missing file lists none: nothing to do
        return False
    found = groups(facts, read_port)
    targets_dir.mkdir(parents=True, exist_ok=True)
    path = targets_dir / f"{service}.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(found, indent=1))
    os.replace(tmp, path)  # Prometheus never reads a half-written file
    return True
