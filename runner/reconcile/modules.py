"""Playbook modules owned by reconcile: ``service``, ``rollback``, ``watch``.

Thin: each parses its arguments and calls one function of ``runner.reconcile.operations``
or ``runner.reconcile.watch``; check mode computes the same decision and skips the change.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

from runner.playbook.modules import Module, ModuleContext
from runner.playbook.result import Result
from runner.reconcile import context, operations
from runner.reconcile.operations import Outcome


class _Args(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _env(ctx: ModuleContext) -> context.Env:
    return context.for_module(ctx.root, ctx.variables.get("environment"))


def _result(outcome: Outcome, before: dict | None = None, after: dict | None = None) -> Result:
    data = {**outcome.data, "revision": outcome.revision}
    diff = {"before": before, "after": after} if before is not None else None
    return Result(changed=outcome.changed, msg=outcome.msg, data=data, diff=diff)


class ServiceArgs(_Args):
    name: str
    state: Literal["deployed", "absent", "checked", "info"] = "deployed"
    reason: str = ""


class ServiceModule(Module):
    """Converge one service to its spec (health-gated rolling replace) or remove it."""

    Args = ServiceArgs

    def run(self, args: ServiceArgs, ctx: ModuleContext) -> Result:
        env = _env(ctx)
        if args.state == "absent":
            return _result(operations.remove(env, args.name, check_mode=ctx.check_mode))
        if args.name not in env.platform.services:
            return Result(failed=True, msg=f"{args.name} is not in the specs")
        if args.state == "info":  # read-only: what plays need to address the service
            return Result(msg=f"{args.name}: port {env.platform.service(args.name).port}",
                          data=service_info(env, args.name))
        if args.state == "checked":  # pre-check: specs loaded and valid, version registered
            operations.check_registry(env, args.name)
            svc = env.platform.service(args.name)
            return Result(msg=f"{args.name}: specs valid, {svc.model.name} "
                              f"v{svc.model.version} is in the registry")
        spec = env.replica_spec(args.name)
        outcome = operations.deploy(env, args.name, reason=args.reason,
                                    check_mode=ctx.check_mode)
        after = {"model_version": spec.model_version, "spec_hash": spec.spec_hash}
        return _result(outcome, {"action": outcome.data.get("action")}, after)


def service_info(env: context.Env, name: str) -> dict[str, object]:
    svc = env.platform.service(name)
    facts = env.runtime.facts([name], check_health=False).get(name, [])
    return {
        "service": name,
        "port": svc.port,
        "url": f"http://127.0.0.1:{svc.port}",
        "model_name": svc.model.name,
        "model_version": svc.model.version,
        "admin_urls": [f"http://127.0.0.1:{f.admin_port}" for f in facts if f.running],
    }


class RollbackArgs(_Args):
    service: str
    to_revision: int | None = None
    reason: str = ""
    commit: bool = True


class RollbackModule(Module):
    """Roll a service back (GitOps: the spec is edited and committed), health-gated."""

    Args = RollbackArgs

    def run(self, args: RollbackArgs, ctx: ModuleContext) -> Result:
        env = _env(ctx)
        outcome = operations.rollback(
            env, args.service, to_revision=args.to_revision, reason=args.reason,
            commit=args.commit, check_mode=ctx.check_mode,
        )
        return _result(outcome)


class WatchArgs(_Args):
    service: str
    for_s: float = 30.0


class WatchModule(Module):
    """Watch error rate and p99 latency after a deploy against the spec's critical levels."""

    Args = WatchArgs

    def run(self, args: WatchArgs, ctx: ModuleContext) -> Result:
        from runner.reconcile.watch import watch

        if ctx.check_mode or args.for_s <= 0:
            return Result(msg="watch skipped" + (" (check mode)" if ctx.check_mode else ""))
        env = _env(ctx)
        alerts = env.platform.service(args.service).alerts
        facts = env.runtime.facts([args.service], check_health=False).get(args.service, [])
        ports = [f.admin_port for f in facts if f.running]
        ok, msg = watch(ports, for_s=args.for_s, max_error_rate=alerts.error_rate.critical,
                        max_p99_s=alerts.latency_p99_s.critical)
        return Result(failed=not ok, msg=msg)


def service_modules() -> dict[str, type[Module]]:
    """The service operations' playbook modules by task key (``playbooks/deploy.yaml``)."""
    return {"service": ServiceModule, "rollback": RollbackModule, "watch": WatchModule}
