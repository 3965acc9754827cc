"""Plan: desired state (specs) against facts (runtime, registry, state store).

Every service is decided once (``runner.operations.decide.plan_service``: ``create``,
``replace``, ``restart``, ``noop`` with the sentence that explains why), services running
but no longer in the specs get ``remove``, and an action whose model version is not in
the registry carries its ``problem``. Planning only reads; apply hands these very actions
to the deploy playbook, which executes them without deciding again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from runner.operations.decide import Action, Kind, plan_service
from runner.operations.desired import replica_spec
from runner.operations.registry_facts import existing_versions
from runner.reconcile.monitoring import MONITORING, plan_monitoring
from runner.runtime.base import ReplicaSpec, Runtime
from runner.spec.models import Platform
from runner.state.state_store import StateStore

__all__ = ["SYMBOL", "Action", "Kind", "Plan", "make_plan", "plan_service"]

SYMBOL = {"create": "+", "replace": "~", "restart": "↻", "remove": "-", "noop": "="}


@dataclass(frozen=True)
class Plan:
    environment: str
    actions: tuple[Action, ...]

    @property
    def changes(self) -> list[Action]:
        return [a for a in self.actions if a.changes]

    @property
    def problems(self) -> list[Action]:
        return [a for a in self.actions if a.problem]

    def action(self, service: str) -> Action:
        return next(a for a in self.actions if a.service == service)

    def as_dict(self) -> dict[str, Any]:
        return {
            "environment": self.environment,
            "in_sync": not self.changes,
            "changes": len(self.changes),
            "actions": [a.as_dict() for a in self.actions],
        }

    def render(self) -> str:
        """Human plan: one line per service, then a summary line."""
        lines = []
        for a in self.actions:
            line = f"{SYMBOL[a.kind]} {a.kind:<8} {a.service:<14} {a.reason}"
            if a.problem:
                line += f"\n  ! {a.problem}"
            lines.append(line)
        counts = {k: sum(1 for a in self.actions if a.kind == k) for k in SYMBOL}
        summary = ", ".join(f"{n} {k}" for k, n in counts.items() if n and k != "noop")
        lines.append(
            f"Plan ({self.environment}): {summary}, {counts['noop']} unchanged"
            if summary
            else f"Plan ({self.environment}): in sync, {counts['noop']} services unchanged"
        )
        return "\n".join(lines)


def make_plan(
    platform: Platform,
    runtime: Runtime,
    store: StateStore,
    *,
    tracking_uri: str,
    services: list[str] | None = None,
    check_health: bool = True,
) -> Plan:
    """Compare every service in the specs (or only ``services``) with what runs."""
    names = sorted(services if services is not None else platform.services)
    facts = runtime.facts(None, check_health=check_health)
    current = store.current_all()
    specs = {n: replica_spec(platform, n, tracking_uri=tracking_uri) for n in names}
    actions = [
        plan_service(specs[n], platform.service(n).replicas, facts.get(n, []), current.get(n))
        for n in names
    ]
    if services is None:
        for gone in sorted(set(facts) - set(platform.services)):
            running = [f for f in facts[gone] if f.running]
            if running or facts[gone]:
                actions.append(Action(
                    gone, "remove",
                    f"not in specs: prune {len(running)} running replica(s)",
                    {"replicas": len(running)}, {}, tuple(f.replica for f in facts[gone]),
                    observed=tuple(facts[gone]),
                ))
    if services is None:  # the monitoring component (runner/reconcile/monitoring.py)
        actions += [Action(MONITORING, *s) for s in plan_monitoring(platform, store.path.parent)]
    wanted = {(specs[a.service].model_name, specs[a.service].model_version)
              for a in actions if a.kind in ("create", "replace") and a.service in specs}
    missing = wanted - existing_versions(tracking_uri, wanted)
    if missing:
        actions = [_flag_missing(a, specs, missing) for a in actions]
    return Plan(platform.environment, tuple(actions))


def _flag_missing(
    action: Action, specs: dict[str, ReplicaSpec], missing: set[tuple[str, int]]
) -> Action:
    spec = specs.get(action.service)
    if spec is None or action.kind not in ("create", "replace"):
        return action
    if (spec.model_name, spec.model_version) not in missing:
        return action
    from dataclasses import replace

    return replace(action, problem=f"model {spec.model_name} version {spec.model_version} "
                                   f"is not in the registry")
