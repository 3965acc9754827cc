"""Container health check: ``python -m runner.serving.healthcheck`` exits 0 only on a 200.

Images have python3 but no curl. It asks the replica's own admin port (else its public
port): a shared public port could be answered by another replica.
"""

from __future__ import annotations

import http.client
import os
import sys


def main() -> int:
    port = int(os.environ.get("ADMIN_PORT") or os.environ.get("PORT") or "8000")
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
