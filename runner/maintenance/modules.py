"""Playbook modules of ``playbooks/maintenance.yaml`` (listed by ``maintenance_modules()``).

Thin: each parses its arguments and calls one function of this package, in the ``Env``
its caller lends (``resources={ENV: env}``; run alone, one is opened per run). Check
mode computes the same lists and changes nothing.
"""

from __future__ import annotations

import json
import time
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from runner.operations.module_env import env_for
from runner.playbook.modules import Module, ModuleContext
from runner.playbook.result import Result


class _Args(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NoticeArgs(_Args):
    phase: Literal["start", "done", "failed"]
    msg: str = ""


class MaintenanceNotice(Module):
    """Tell the spec's sinks that maintenance starts, ended, or failed."""

    Args = NoticeArgs

    def run(self, args: NoticeArgs, ctx: ModuleContext) -> Result:
        from runner.maintenance.notices import NOTIFY

        env = env_for(ctx)
        level = {"start": "info", "done": "info", "failed": "critical"}[args.phase]
        text = f"maintenance of {env.environment} {args.phase}" + (f": {args.msg}"
                                                                     if args.msg else "")
        send = ctx.resources.get(NOTIFY)
        if send is None:
            return Result(msg=f"not sent (no notifier lent to this run): {text}")
        if ctx.check_mode:
            return Result(changed=True, msg=f"check mode: would send '{text}' ({level})")
        sent = send(text, level, {"phase": args.phase})
        return Result(changed=True, msg=f"{text} -> {'; '.join(sent) or 'no sink takes ' + level}",
                      data={"sinks": sent})


class AuditArgs(_Args):
    timeout_s: float = 15.0


class DependencyAudit(Module):
    """pip-audit of the serving requirements and the toolkit; a report file, never fatal."""

    Args = AuditArgs

    def run(self, args: AuditArgs, ctx: ModuleContext) -> Result:
        from runner.maintenance.dependency_audit import audit_all

        env = env_for(ctx)
        reports = audit_all(env.root, env.state, timeout_s=args.timeout_s)
        data = [r.as_dict() for r in reports]
        lines = [f"{r.target}: {r.msg}" for r in reports]
        if not ctx.check_mode:  # the report is the step's only output
            folder = env.state / "reports" / "maintenance"
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / f"dependency-audit-{time.strftime('%Y%m%dT%H%M%S')}.json"
            path.write_text(json.dumps(data, indent=2))
            lines.append(f"report: {path}")
        return Result(msg="; ".join(lines), data={"reports": data})


class DbMaintenance(Module):
    """Integrity check, ANALYZE and VACUUM of the state store and the MLflow database."""

    Args = _Args

    def run(self, args: _Args, ctx: ModuleContext) -> Result:
        from runner.maintenance.sqlite_upkeep import sqlite_path, upkeep

        env = env_for(ctx)
        paths = [env.store.path]
        mlflow_db = sqlite_path(env.tracking_uri)
        if mlflow_db is not None and mlflow_db.is_file():
            paths.append(mlflow_db)
        done = [upkeep(p, check_mode=ctx.check_mode) for p in paths]
        msg = "; ".join(u.line() for u in done)
        return Result(changed=any(u.done for u in done) or ctx.check_mode,
                      failed=not all(u.ok for u in done), msg=msg,
                      data={"databases": [u.as_dict() for u in done]})


class Cleanup(Module):
    """Delete by retention what nothing references; check mode lists exactly that."""

    Args = _Args

    def run(self, args: _Args, ctx: ModuleContext) -> Result:
        from runner.maintenance.cleanup import candidates, delete
        from runner.operations.locking import holding_apply_lock

        env = env_for(ctx)
        registry = _registry(env.tracking_uri)
        with holding_apply_lock(env, enabled=not ctx.check_mode):
            found = candidates(env, registry=registry)
            listing = [c.as_dict() for c in found]
            note = "" if registry is not None else "; MLflow database absent: no runs listed"
            note += "; old backups: retention by the backup tool (restic forget)"
            if not found:
                return Result(msg=f"nothing to delete{note}", data={"candidates": []})
            if ctx.check_mode:
                return Result(changed=True, msg=f"would delete {len(found)}: "
                              + "; ".join(c.line() for c in found) + note,
                              data={"candidates": listing},
                              diff={"before": [c.target for c in found], "after": []})
            done = delete(env, found, registry=registry)
        return Result(changed=True, msg=f"deleted {len(done)}{note}",
                      data={"candidates": listing, "deleted": done},
                      diff={"before": [c.target for c in found], "after": []})


def _registry(uri: str) -> Any | None:
    from runner.maintenance.sqlite_upkeep import sqlite_path

    path = sqlite_path(uri)
    if path is not None and not path.is_file():
        return None  # no database yet: opening it would create one
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=uri, registry_uri=uri)


class RestartArgs(_Args):
    service: str


class RollingRestart(Module):
    """Restart one service's replicas one at a time through the health-gated converge."""

    Args = RestartArgs

    def run(self, args: RestartArgs, ctx: ModuleContext) -> Result:
        from runner.maintenance.rolling_restart import rolling_restart

        outcome = rolling_restart(env_for(ctx), args.service, check_mode=ctx.check_mode)
        return Result(changed=outcome.changed, msg=outcome.msg,
                      data={**outcome.data, "revision": outcome.revision})


class WatchArgs(_Args):
    services: list[str]
    for_s: float


class WatchServices(Module):
    """Watch every service at once after the restart (the spec's maintenance.watch_s)."""

    Args = WatchArgs

    def run(self, args: WatchArgs, ctx: ModuleContext) -> Result:
        from runner.maintenance.rolling_restart import watch_all

        if ctx.check_mode or args.for_s <= 0:
            return Result(msg="watch skipped" + (" (check mode)" if ctx.check_mode else ""))
        ok, lines = watch_all(env_for(ctx), args.services, for_s=args.for_s)
        return Result(failed=not ok, msg="; ".join(lines))


def maintenance_modules() -> dict[str, type[Module]]:
    """This package's playbook modules by task key (``playbooks/maintenance.yaml``)."""
    table: dict[str, type[Module]] = {
        "maintenance_notice": MaintenanceNotice, "dependency_audit": DependencyAudit,
        "db_maintenance": DbMaintenance, "cleanup": Cleanup,
        "rolling_restart": RollingRestart, "watch_services": WatchServices,
    }
    return table
