"""Playbook modules of the service operations: ``service``, ``rollback``, ``watch``.

Thin: each parses its arguments and calls one function of ``runner.operations``; check
mode computes the same decision and skips the change. They work in the ``Env`` their
caller lends the run (``resources={ENV: env}``) and execute the action the caller planned
for the service (``resources={PLANNED: {name: Action}}``); run on their own
(``inv playbook deploy -e service=x``) they open an ``Env`` once per run and decide.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from runner.operations.decide import Action
from runner.operations.deployment import (
    Outcome,
    check_registry,
    deploy,
    remove,
    watch_after_deploy,
)
from runner.operations.gitops_rollback import rollback
from runner.operations.locking import holding_apply_lock
from runner.operations.module_env import env_for
from runner.operations.workspace import Env
from runner.playbook.modules import Module, ModuleContext
from runner.playbook.result import Result

PLANNED = "operations.planned"  # resources key: {service: Action} decided by the caller
_PLANNED_USED = "operations.planned_used"  # cache key: services whose action was executed


class _Args(BaseModel):
    model_config = ConfigDict(extra="forbid")


def planned(ctx: ModuleContext, name: str) -> Action | None:
    """The action the caller decided for ``name``, once per run (None: decide now).

    A second deploy of the same service in one run (a rollback already converged it, a
    loop) must not act on facts the first one changed."""
    table: Mapping[str, Any] = ctx.resources.get(PLANNED) or {}
    action = table.get(name)
    used: set[str] = ctx.cache.setdefault(_PLANNED_USED, set())
    if not isinstance(action, Action) or name in used:
        return None
    used.add(name)
    return action


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
        env = env_for(ctx)
        if args.state == "absent":
            with holding_apply_lock(env, enabled=not ctx.check_mode):
                return _result(remove(env, args.name, check_mode=ctx.check_mode))
        if args.name not in env.platform.services:
            return Result(failed=True, msg=f"{args.name} is not in the specs")
        if args.state == "info":  # read-only: what plays need to address the service
            return Result(msg=f"{args.name}: port {env.platform.service(args.name).port}",
                          data=service_info(env, args.name))
        if args.state == "checked":  # pre-check: specs loaded and valid, version registered
            check_registry(env, args.name)
            svc = env.platform.service(args.name)
            return Result(msg=f"{args.name}: specs valid, {svc.model.name} "
                              f"v{svc.model.version} is in the registry")
        spec = env.replica_spec(args.name)
        with holding_apply_lock(env, enabled=not ctx.check_mode):
            outcome = deploy(env, args.name, action=planned(ctx, args.name),
                                 reason=args.reason, check_mode=ctx.check_mode)
        after = {"model_version": spec.model_version, "spec_hash": spec.spec_hash}
        return _result(outcome, {"action": outcome.data.get("action")}, after)


def service_info(env: Env, name: str) -> dict[str, object]:
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
        env = env_for(ctx)
        with holding_apply_lock(env, enabled=not ctx.check_mode):
            outcome = rollback(
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
        if ctx.check_mode or args.for_s <= 0:
            return Result(msg="watch skipped" + (" (check mode)" if ctx.check_mode else ""))
        ok, msg = watch_after_deploy(env_for(ctx), args.service, for_s=args.for_s)
        return Result(failed=not ok, msg=msg)


def service_modules() -> dict[str, type[Module]]:
    """The service operations' playbook modules by task key (``playbooks/deploy.yaml``)."""
    from runner.operations.preflight_checks import PreflightModule  # deploy.yaml's first step

    return {"service": ServiceModule, "rollback": RollbackModule, "watch": WatchModule,
            "preflight": PreflightModule}
