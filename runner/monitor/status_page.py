"""The monitor's read-only status page: ``GET /`` on its loopback port.

Server-rendered HTML (Jinja2 templates in ``templates/status/``, autoescaped, strict
undefined, no build step) that refreshes itself with ``<meta http-equiv=refresh>``: per
service the desired and running model version, revision, replicas, health and parked
standby, its last deploys with actor and reason, its drift share; the alerts firing with
their runbook section; the current plan; each platform component's health; the last
synced commit. The rows are the very ones ``inv status --json`` prints, and the plan is
the services' part of ``inv plan`` (``runner.monitor.platform_status``).

It holds no secrets (no tokens, no sink URLs, no environment) and changes nothing: only
GET, and gathering only reads. It runs inside the monitor, so gathering is bounded: the
health checks have short timeouts and run in parallel, Alertmanager is asked with a
short timeout beside them, and one rendering is reused for ``CACHE_S`` (well under the
refresh interval, so a change shows within one refresh).
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from runner.monitor.dispatcher import Context
from runner.monitor.platform_status import service_plan, status_data

REFRESH_S = 5
CACHE_S = 2.0
ALERTS_TIMEOUT_S = 2.0
DEPLOYS_SHOWN = 5
# The toolkit's own templates (as the renderer's), not the served repository's.
TEMPLATE_DIR = Path(__file__).resolve().parents[2] / "templates" / "status"
# A page that loads nothing from elsewhere, runs no script, and cannot be framed.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'none'; object-src 'none'; "
                               "base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def open_readonly_env(ctx: Context) -> Any:
    """An Env on the monitor's own root and state dir (not the caller's environment)."""
    from runner.operations.workspace import Env
    from runner.runtime import get_runtime
    from runner.state import StateStore, tracking_uri

    return Env(
        root=ctx.root, environment=ctx.env, platform=ctx.platform, state=ctx.state,
        store=StateStore(ctx.state),
        runtime=get_runtime(ctx.platform.platform.runtime, state=ctx.state, root=ctx.root),
        tracking_uri=tracking_uri(ctx.state), actor="monitor", say=lambda _m: None, quiet=True,
    )


def firing_alerts(ctx: Context) -> tuple[list[dict[str, Any]], str]:
    """(alerts firing, a note when Alertmanager could not be asked)."""
    import httpx

    from runner.monitor.alert_model import parse
    from runner.monitor.firing import order

    listener = ctx.platform.platform.monitoring.alertmanager
    url = f"http://{listener.host}:{listener.port}/api/v2/alerts"
    try:
        resp = httpx.get(url, params={"active": "true", "silenced": "false",
                                      "inhibited": "false"}, timeout=ALERTS_TIMEOUT_S)
        if resp.status_code != 200:
            return [], f"Alertmanager answered HTTP {resp.status_code}"
        alerts = order([parse(a) for a in resp.json() if isinstance(a, dict)])
    except (httpx.HTTPError, ValueError) as exc:
        return [], f"Alertmanager not reachable on {listener.host}:{listener.port} " \
                   f"({type(exc).__name__})"
    return [a.as_dict() for a in alerts], ""


def gather(ctx: Context) -> dict[str, Any]:
    """Everything the page shows, read now (bounded, see the module doc)."""
    from runner.monitor import drift_gauge

    env = open_readonly_env(ctx)
    # Alertmanager is asked on another thread meanwhile; the state store (sqlite) is used
    # only on this one.
    with ThreadPoolExecutor(max_workers=1) as pool:
        alerts = pool.submit(firing_alerts, ctx)
        try:
            status = status_data(env)
            deploys = {name: [r.as_dict() for r in reversed(
                env.store.revisions(name)[-DEPLOYS_SHOWN:])]
                for name in sorted(env.platform.services)}
            try:
                plan_data: dict[str, Any] = service_plan(env)
                plan_note = ""
            except Exception as exc:  # noqa: BLE001 - the page shows why, the monitor goes on
                plan_data = {"actions": [], "in_sync": None, "changes": 0}
                plan_note = f"plan failed: {type(exc).__name__}: {exc}"
        finally:
            env.store.close()
        firing, alerts_note = alerts.result()
    drift = drift_gauge.get_all(state=ctx.state)
    return {**status, "environment": ctx.env, "deploys": deploys, "alerts": firing,
            "alerts_note": alerts_note, "drift": drift, "plan": plan_data,
            "plan_note": plan_note, "generated_at": time.time(), "refresh_s": REFRESH_S}


def when(epoch: object) -> str:
    """Local time of an epoch (the page's only formatting filter)."""
    if not isinstance(epoch, int | float):
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(epoch))


class StatusPage:
    """Renders the page; one rendering is shared by requests within ``CACHE_S``."""

    def __init__(self, template_dir: Path = TEMPLATE_DIR) -> None:
        from jinja2 import Environment, FileSystemLoader, StrictUndefined

        self.template_dir = template_dir
        self.jinja = Environment(loader=FileSystemLoader(str(template_dir)), autoescape=True,
                                 undefined=StrictUndefined, trim_blocks=True,
                                 lstrip_blocks=True)
        self.jinja.filters["when"] = when
        self._lock = threading.Lock()
        self._cached: tuple[float, bytes] | None = None

    def html(self, ctx: Context) -> bytes:
        with self._lock:  # one gathering at a time; the others reuse it
            now = time.monotonic()
            if self._cached is not None and now - self._cached[0] < CACHE_S:
                return self._cached[1]
            body = self.jinja.get_template("page.html.j2").render(gather(ctx)).encode()
            self._cached = (time.monotonic(), body)
            return body

    def stylesheet(self) -> bytes:
        return (self.template_dir / "status.css").read_bytes()

