"""The Docker engine as the toolkit talks to it: one SDK client, one clear error when absent.

The engine itself is Debian's ``docker.io`` started by ``scripts/dockerd.sh`` with host
networking only (``--bridge=none --iptables=false``); ``/usr/local/bin/docker`` on some
machines is a client without an engine. Everything here goes through the SDK (``docker``
package), never through the CLI, so argv quoting and output parsing never come up.
"""

from __future__ import annotations

import os
from typing import Any

from runner.errors import NotInstalled, TemporaryError

# Labels every object of ours carries: actual state is read back from them alone.
LABEL_PREFIX = "org.mlgitops."
MANAGED = LABEL_PREFIX + "managed"
API_TIMEOUT_S = 120  # a build or an image import can keep one call busy for a while


def label(name: str) -> str:
    """The full label key for ``name`` (``service`` -> ``org.mlgitops.service``)."""
    return LABEL_PREFIX + name


def client(timeout_s: int = API_TIMEOUT_S) -> Any:
    """An SDK client for ``DOCKER_HOST`` (default the local socket), API version negotiated.

    Raises NotInstalled when the SDK is missing and TemporaryError when no engine answers.
    """
    try:
        import docker  # heavy-ish, and only needed by container commands
    except ImportError:
        raise NotInstalled("the docker Python package is missing (pip install docker)") from None
    try:
        cli = docker.from_env(version="auto", timeout=timeout_s)
        cli.ping()
    except Exception as exc:  # noqa: BLE001 - the SDK raises several types for "not there"
        where = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
        raise TemporaryError(
            f"no Docker engine answers at {where} ({type(exc).__name__}); start one with "
            "scripts/dockerd.sh"
        ) from None
    return cli


def not_found() -> type[Exception]:
    """The SDK's NotFound (imported lazily, like the SDK)."""
    from docker.errors import NotFound

    return NotFound


def api_error() -> type[Exception]:
    """The SDK's base error for an engine that answered with a failure."""
    from docker.errors import DockerException

    return DockerException
