"""Container health check: ``python -m runner.serving.healthcheck`` exits 0 only on a 200.

Images have python3 but no curl. It asks the replica's own admin port (else its public
port): a shared public port could be answered by another replica. ``ADMIN_PORT=0`` (the
compose file, for Swarm's start-first updates): the port the replica wrote to
``admin_port_file()``.
"""

from __future__ import annotations

import http.client
import os
import sys
import tempfile
from pathlib import Path


def admin_port_file() -> Path:
    """Where a replica started with ``ADMIN_PORT=0`` writes the port it bound (the
    container's own temporary folder: one replica per container)."""
    return Path(tempfile.gettempdir()) / "mlgitops-admin-port"


def main() -> int:
    port = int(os.environ.get("ADMIN_PORT") or os.environ.get("PORT") or "8000")
    if port == 0:  # a free port the replica picked (Swarm, start-first): it wrote it down
        try:
            port = int(admin_port_file().read_text().strip())
        except (OSError, ValueError):
            print("unhealthy: the replica has not bound its admin port yet", file=sys.stderr)
            return 1
    host = os.environ.get("HOST", "127.0.0.1")
    # bandit B104: a comparison, not a bind; a wildcard-bound replica is probed on loopback.
    if host in ("0.0.0.0", "::", ""):  # noqa: S104 # nosec B104
        host = "127.0.0.1"
    conn = http.client.HTTPConnection(
        host, port, timeout=float(os.environ.get("HEALTH_TIMEOUT", "2"))
    )
    try:
        conn.request("GET", "/health")
        status = conn.getresponse().status
    except OSError as exc:
        print(f"unhealthy: {host}:{port}: {exc}", file=sys.stderr)
        return 1
    finally:
        conn.close()
    if status != 200:
        print(f"unhealthy: /health answered {status}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
