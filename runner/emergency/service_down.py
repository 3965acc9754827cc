"""``inv emergency service-down --service S``: the runbook's P0 steps, automated.

1. every endpoint's health (the runbook's quick reference, ``inv health``);
2. the service's recent deploys (revisions, newest last);
3. the logs of the failing replicas (the local runtime keeps ``<state>/run/services/S/``);
4. when the service is down or failing: a GitOps rollback to the last revision that was
   healthy (``runner.commands.converge.rollback_command``: spec pinned and committed,
   under the apply lock, health-gated), then the health again;
5. a report under ``<state>/reports/``, an audit event, and a P0 page when the rollback
   did not bring the service back (``emergency:service-down``).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from runner.errors import PermanentError, ToolkitError
from runner.operations import Env, open_env
from runner.runtime import health

LOG_LINES = 40
DEPLOYS = 5


def endpoint_health(env: Env) -> list[dict[str, Any]]:
    from runner.commands.platform_up import endpoints

    rows = []
    for name, port, path, required in endpoints(env):
        status, _ = health.request(port, path, timeout_s=3.0)
        rows.append({"component": name, "url": f"http://127.0.0.1:{port}{path}",
                     "status": status, "ok": status == 200, "required": required})
    return rows


def service_ok(rows: list[dict[str, Any]], service: str) -> bool:
    mine = [r for r in rows if r["component"] == service]
    return bool(mine) and all(r["ok"] for r in mine)


def failing_logs(env: Env, service: str) -> list[dict[str, Any]]:
    """Tails of the logs of replicas that are dead or unhealthy (else the newest logs)."""
    facts = env.runtime.facts([service]).get(service, [])
    bad = [Path(f.log) for f in facts if f.log and not (f.running and f.healthy)]
    if not bad:  # crashed replicas may already be forgotten: their logs stay
        folder = env.state / "run" / "services" / service
        healthy = {Path(f.log).name for f in facts if f.running and f.healthy}
        logs = sorted((p for p in folder.glob("*.log") if p.name not in healthy),
                      key=lambda p: p.stat().st_mtime)
        bad = logs[-2:]
    out = []
    for path in bad:
        try:
            tail = path.read_text(errors="replace").splitlines()[-LOG_LINES:]
        except OSError:
            tail = ["(log unreadable)"]
        out.append({"replica": path.stem, "path": str(path), "tail": tail})
    return out


def service_down(service: str, env_name: str = "dev", root: Path | None = None,
                 rollback: bool = True) -> dict[str, Any]:
    """Run the procedure; the report (also written to disk; its path under ``report``)."""
    from runner.commands.converge import rollback_command
    from runner.emergency.emergency_report import write_report

    began = time.monotonic()
    env = open_env(root, env_name, quiet=True)
    if service not in env.platform.services:
        raise PermanentError(f"{service} is not in the specs", field="--service")
    steps: list[dict[str, Any]] = []
    rows = endpoint_health(env)
    down = not service_ok(rows, service)
    steps.append({"name": "health", "ok": not down,
                  "msg": f"{service} {'DOWN or failing' if down else 'healthy'}; "
                         f"{sum(not r['ok'] for r in rows if r['required'])} required "
                         "endpoint(s) failing"})
    deploys = [r.as_dict() for r in env.store.revisions(service)[-DEPLOYS:]]
    steps.append({"name": "recent deploys", "ok": True,
                  "msg": ", ".join(f"r{d['number']} v{d['model_version']} {d['outcome']}"
                                   for d in deploys) or "none"})
    logs = failing_logs(env, service)
    steps.append({"name": "logs", "ok": True,
                  "msg": ", ".join(log["replica"] for log in logs) or "no replica logs"})
    outcome, summary = "healthy", f"{service} is healthy: nothing rolled back"
    if down and rollback:
        env.store.close()  # the rollback opens its own environment (and takes the lock)
        try:
            rollback_command(service, env_name,
                             reason=f"emergency service-down: {service} failing its checks")
            steps.append({"name": "rollback", "ok": True, "msg": "rolled back"})
        except ToolkitError as exc:
            steps.append({"name": "rollback", "ok": False, "msg": exc.one_line()})
        env = open_env(root, env_name, quiet=True)
        rows_after = endpoint_health(env)
        back = service_ok(rows_after, service)
        current = env.store.current(service)
        where = f"revision {current.number} (model v{current.model_version})" if current else "-"
        steps.append({"name": "health after", "ok": back,
                      "msg": f"{service} {'healthy' if back else 'STILL DOWN'} at {where}"})
        outcome = "recovered" if back else "failed"
        summary = (f"{service} rolled back to {where} and healthy" if back else
                   f"{service} still down after the rollback: escalate (P0)")
    elif down:
        outcome, summary = "down", f"{service} is down; --no-rollback: nothing changed"
    report = {"kind": "service-down", "service": service, "environment": env_name,
              "outcome": outcome, "summary": summary, "at": time.time(),
              "duration_s": round(time.monotonic() - began, 2), "steps": steps,
              "health": rows, "deploys": deploys, "logs": logs}
    report["report"] = str(write_report(env.state, "service-down", service, report))
    env.store.audit("emergency.service-down", actor=env.actor, service=service,
                    outcome=outcome, report=report["report"], summary=summary)
    if outcome in ("failed", "down"):
        from runner.emergency.paging import page

        page(env, "service-down", service, summary)
    return report
