"""Apply: run a plan's changes through the runbook playbooks, under the apply lock.

The plan is made once, after the lock is taken (what another apply changed meanwhile is
not redone), and each change runs ``playbooks/deploy.yaml`` (create, replace, restart:
pre-checks, the health-gated rollout, a post-deploy watch, automatic rollback on failure;
``remove`` prunes) with that very action lent to the play's modules: they converge what
the plan decided and decide nothing again.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from runner.operations.deployment import record_settled
from runner.operations.locking import holding_apply_lock
from runner.operations.workspace import Env
from runner.reconcile import crashloop
from runner.reconcile.monitoring import MONITORING, apply_monitoring
from runner.reconcile.plan import Action, Plan, make_plan
from runner.schedule.gates import refuse_if_frozen
from runner.state.lock import renew

DEPLOY_PLAYBOOK = "playbooks/deploy.yaml"


@dataclass
class ActionOutcome:
    service: str
    kind: str
    ok: bool
    rolled_back: bool
    msg: str
    duration_s: float

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class ApplyResult:
    plan: Plan
    outcomes: list[ActionOutcome] = field(default_factory=list)
    taken_over: str = ""
    # Notifications the caller sends (runner.monitor.sinks sits beside this layer, not
    # under it): a service held in a crash loop.
    notices: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(o.ok for o in self.outcomes)

    def as_dict(self) -> dict[str, Any]:
        return {
            "plan": self.plan.as_dict(),
            "outcomes": [o.as_dict() for o in self.outcomes],
            "ok": self.ok,
            "lock_taken_over_from": self.taken_over,
        }

    def render(self) -> str:
        if not self.plan.changes:
            return self.plan.render()
        lines = [self.plan.render(), ""]
        for o in self.outcomes:
            state = "ok" if o.ok else ("ROLLED BACK" if o.rolled_back else "FAILED")
            lines.append(f"{state:<11} {o.kind:<8} {o.service:<14} {o.msg} ({o.duration_s:.1f}s)")
        lines.append("Apply: " + ("converged" if self.ok else "failed"))
        return "\n".join(lines)


def run_action(env: Env, action: Action, *, watch_s: float | None = None) -> ActionOutcome:
    """One planned change through the deploy playbook (the caller holds the apply lock)."""
    from runner.operations.module_env import ENV
    from runner.operations.service_modules import PLANNED, service_modules
    from runner.playbook import run_playbook

    started = time.monotonic()
    if action.service == MONITORING:  # no playbook: stage the rendered config and reload
        ok, msg = apply_monitoring(env, action.after)
        return ActionOutcome(action.service, action.kind, ok, False, msg,
                             time.monotonic() - started)
    variables: dict[str, Any] = {
        "service": action.service,
        "action": action.kind,
        "reason": action.reason,
        "environment": env.environment,
        "watch_s": env.platform.platform.post_deploy_watch_s if watch_s is None else watch_s,
    }
    result = run_playbook(
        env.root / DEPLOY_PLAYBOOK, extra_vars=variables, root=env.root,
        state_dir=env.state, output=None if env.quiet else sys.stderr,
        modules=service_modules(), resources={ENV: env, PLANNED: {action.service: action}},
    )
    rolled_back = result.stats.rescued > 0
    ok = result.ok and not rolled_back
    if ok:
        msg = next((r.msg for r in reversed(result.records)
                    if r.status == "changed" and r.msg), "done")
    else:
        failure = result.failures[-1].msg if result.failures else ""
        msg = failure or next((r.msg for r in result.records if r.status == "failed"), "failed")
        if rolled_back:
            msg = f"{msg} -> {_rollback_msg(result)}"
    return ActionOutcome(action.service, action.kind, ok, rolled_back, msg,
                         time.monotonic() - started)


def _what(plan: Plan, services: list[str] | None) -> str:
    names = ", ".join(f"{a.kind} {a.service}" for a in plan.changes)
    return f"{'deploy' if services else 'reconcile'} ({names})"


def _rollback_msg(result: Any) -> str:
    for rec in result.records:
        if rec.name and "roll" in rec.name.lower() and rec.status in ("changed", "ok"):
            return rec.msg
    return "rolled back"


def apply(env: Env, *, services: list[str] | None = None, watch_s: float | None = None,
          force: bool = False, reason: str = "",
          on_plan: Callable[[Plan], None] | None = None) -> ApplyResult:
    """Plan and converge under the apply lock (a live holder: LockHeld at once).

    Inside a freeze window a plan that changes a revision is refused (WindowClosed)
    unless ``force`` with ``reason``; restarting crashed replicas at their revision
    (self-heal) is not a change of what runs and goes on. ``on_plan``: called with the
    plan before any change is made (``inv up`` shows it)."""
    began = time.monotonic()  # duration_s in the audit event feeds the exporter's histogram
    with holding_apply_lock(env) as taken_over:
        plan = make_plan(env.platform, env.runtime, env.store, tracking_uri=env.tracking_uri,
                         services=services)
        if any(a.kind != "restart" for a in plan.changes):
            refuse_if_frozen(env, _what(plan, services), force=force, reason=reason)
        result = ApplyResult(plan, taken_over=taken_over.describe() if taken_over else "")
        if on_plan is not None:
            on_plan(plan)
        for line in record_settled(env, plan.actions):  # a deploy killed after its switch
            env.progress(line)
        for action in plan.actions:
            if not action.changes:
                crashloop.record(env, action, ok=True, msg="")  # healthy: the count resets
                continue
            held = crashloop.gate(env, action, by_person=services is not None)
            if held:  # a crash loop: backing off, or held until a person or a new spec
                env.progress(f"{action.kind} {action.service}: {held}")
                result.outcomes.append(ActionOutcome(action.service, action.kind, False, False,
                                                     held, 0.0))
                continue
            env.progress(f"{action.kind} {action.service}: {action.reason}")
            outcome = run_action(env, action, watch_s=watch_s)
            notice = crashloop.record(env, action, ok=outcome.ok, msg=outcome.msg)
            if notice is not None:
                result.notices.append(notice)
            result.outcomes.append(outcome)
            renew(env.store)
        env.store.audit("apply", actor=env.actor, outcome="ok" if result.ok else "failed",
                        changes=[a.as_dict() for a in plan.changes],
                        outcomes=[o.as_dict() for o in result.outcomes],
                        duration_s=round(time.monotonic() - began, 3))
    return result
