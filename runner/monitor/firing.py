"""``inv alerts [--json]``: the alerts firing now, from Alertmanager's API v2.

Each line names the service and the runbook section to follow, most severe first. When
Alertmanager is not running this says so on one line (a ``TemporaryError``) instead of
printing a connection traceback.
"""

from __future__ import annotations

import json

from runner.errors import TemporaryError
from runner.monitor.alert_model import SEVERITY_RANK, Alert, parse

TIMEOUT_S = 3.0


def alertmanager_url(env: str = "dev") -> str:
    """The Alertmanager of the platform spec (127.0.0.1:9093 unless configured otherwise)."""
    from runner.spec import load_platform
    from runner.state.paths import repo_root

    listener = load_platform(repo_root(), env).platform.monitoring.alertmanager
    return f"http://{listener.host}:{listener.port}"


def firing(url: str) -> list[Alert]:
    """Active (not silenced, not inhibited) alerts, most severe first, then by service."""
    import httpx

    try:
        response = httpx.get(
            f"{url.rstrip('/')}/api/v2/alerts",
            params={"active": "true", "silenced": "false", "inhibited": "false"},
            timeout=TIMEOUT_S,
        )
    except httpx.HTTPError as exc:
        raise TemporaryError(
            f"alertmanager is not running at {url} ({type(exc).__name__})"
        ) from None
    if response.status_code != 200:
        raise TemporaryError(f"alertmanager at {url} answered HTTP {response.status_code}")
    return order([parse(item) for item in response.json() if isinstance(item, dict)])


def order(alerts: list[Alert]) -> list[Alert]:
    """The firing ones, most severe first, then by service and name."""
    return sorted(
        (a for a in alerts if a.firing),
        key=lambda a: (-SEVERITY_RANK.get(a.severity, 1), a.service, a.name),
    )


def format_table(alerts: list[Alert]) -> str:
    if not alerts:
        return "no alerts firing"
    rows = [("SEVERITY", "ALERT", "SERVICE", "SINCE", "RUNBOOK")]
    rows += [
        (a.severity, a.name, a.service or "-", a.starts_at[:19].replace("T", " "), a.runbook)
        for a in alerts
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(r[:-1], widths, strict=True)) + "  " + r[-1]
        for r in rows
    )


def alerts_command(env: str = "dev", as_json: bool = False, url: str | None = None) -> int:
    """Print the firing alerts; returns how many there are."""
    found = firing(url or alertmanager_url(env))
    if as_json:
        print(json.dumps([a.as_dict() for a in found], indent=2))
    else:
        print(format_table(found))
    return len(found)

