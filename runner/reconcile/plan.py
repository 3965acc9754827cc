"""Plan: desired state (specs) against facts (runtime, registry, state store).

One action per service, each with its reason: ``create`` (nothing runs), ``replace``
(model version, runtime config or replica count changed), ``restart`` (a replica
crashed or is unhealthy), ``remove`` (running but no longer in the specs: prune) or
``noop`` (with the sentence that explains why nothing is needed). Planning only reads;
apply executes exactly these actions.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from runner.reconcile.desired import replica_spec
from runner.reconcile.monitoring import MONITORING, plan_monitoring
from runner.reconcile.registry import existing_versions
from runner.runtime.base import ReplicaFact, ReplicaSpec, Runtime
from runner.spec.models import Platform
from runner.state.store import Revision, StateStore

Kind = Literal["create", "replace", "restart", "remove", "noop"]
SYMBOL = {"create": "+", "replace": "~", "restart": "↻", "remove": "-", "noop": "="}


@dataclass(frozen=True)
class Action:
    service: str
    kind: Kind
    reason: str
    before: dict[str, Any] = field(default_factory=dict)
    after: dict[str, Any] = field(default_factory=dict)
    replicas: tuple[str, ...] = ()  # the replicas the reason is about
    problem: str = ""  # why applying would fail (e.g. model version not in the registry)

    @property
    def changes(self) -> bool:
        return self.kind != "noop"

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["replicas"] = list(self.replicas)
        return out


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


def _state(fact: ReplicaFact) -> dict[str, Any]:
    return {"model_version": fact.model_version, "spec_hash": fact.spec_hash}


def plan_service(
    spec: ReplicaSpec, replicas: int, facts: list[ReplicaFact], current: Revision | None
) -> Action:
    """The one action ``spec.service`` needs, given its replicas' facts."""
    name = spec.service
    after = {"model_version": spec.model_version, "spec_hash": spec.spec_hash, "replicas": replicas}
    running = [f for f in facts if f.running]
    dead = [f for f in facts if not f.running]
    at_rev = [f for f in running if f.revision == spec.revision]
    stale = [f for f in running if f.revision != spec.revision]
    before: dict[str, Any] = {"replicas": len(running)}
    if running:
        before.update(_state(stale[0] if stale else running[0]))
    if not running and not dead:
        return Action(name, "create", f"not running; deploy model v{spec.model_version} "
                      f"with {replicas} replica(s)", {}, after)
    if stale or (dead and not at_rev and all(f.revision != spec.revision for f in dead)):
        old = stale[0] if stale else dead[0]
        reasons = []
        if old.model_version != spec.model_version:
            reasons.append(f"model version {old.model_version} -> {spec.model_version}")
        if old.spec_hash != spec.spec_hash:
            reasons.append(
                f"config changed (spec hash {old.spec_hash[:8]} -> {spec.spec_hash[:8]})"
            )
        if len(facts) != replicas:  # crashed replicas count: they are still wanted
            reasons.append(f"replicas {len(facts)} -> {replicas}")
        return Action(name, "replace", "; ".join(reasons), before, after,
                      tuple(f.replica for f in stale or dead))
    sick = [f for f in at_rev if f.healthy is False]
    if dead or sick:
        parts = [f"replica {f.replica} (pid {f.pid}) is not running" for f in dead]
        parts += [f"replica {f.replica} (pid {f.pid}) is unhealthy" for f in sick]
        return Action(name, "restart", "; ".join(parts), before, after,
                      tuple(f.replica for f in dead + sick))
    if len(at_rev) != replicas:
        return Action(name, "replace", f"replicas {len(at_rev)} -> {replicas}", before, after,
                      tuple(f.replica for f in at_rev))
    where = f"revision {current.number}" if current is not None else "an unrecorded revision"
    health = "healthy" if all(f.healthy for f in at_rev) else "running (health not checked)"
    return Action(name, "noop",
                  f"{name} is at {where}, {health} (model v{spec.model_version}, "
                  f"{replicas} replica{'s' if replicas != 1 else ''})", before, after)


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
