"""Decide one service: the action its desired replica spec needs, given what runs.

One action per service, each with its reason: ``create`` (nothing runs), ``replace``
(model version, runtime config or replica count changed), ``restart`` (a replica crashed
or is unhealthy), ``remove`` (running but no longer in the specs) or ``noop`` (with the
sentence that explains why nothing is needed). Pure: facts in, an ``Action`` out.

``runner.reconcile.plan`` decides every service this way, once, and apply hands each
action to the deploy play; a play run on its own (``inv playbook deploy``) decides here.
The action carries the replica facts it was decided on (``observed``), so converging it
acts on what the plan saw instead of looking again.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

from runner.runtime.base import ReplicaFact, ReplicaSpec
from runner.state.state_store import Revision

Kind = Literal["create", "replace", "restart", "remove", "noop"]


@dataclass(frozen=True)
class Action:
    service: str
    kind: Kind
    reason: str
    before: dict[str, Any] = field(default_factory=dict)
    after: dict[str, Any] = field(default_factory=dict)
    replicas: tuple[str, ...] = ()  # the replicas the reason is about
    problem: str = ""  # why applying would fail (e.g. model version not in the registry)
    # The facts the decision was made on (not part of the plan's output).
    observed: tuple[ReplicaFact, ...] = field(default=(), compare=False, repr=False)

    @property
    def changes(self) -> bool:
        return self.kind != "noop"

    def as_dict(self) -> dict[str, Any]:
        out = asdict(replace(self, observed=()))  # facts are not output: do not copy them
        out.pop("observed")
        out["replicas"] = list(self.replicas)
        return out


def _state(fact: ReplicaFact) -> dict[str, Any]:
    return {"model_version": fact.model_version, "spec_hash": fact.spec_hash}


def plan_service(
    spec: ReplicaSpec, replicas: int, facts: list[ReplicaFact], current: Revision | None
) -> Action:
    """The one action ``spec.service`` needs, given its replicas' facts."""
    return replace(_decide(spec, replicas, facts, current), observed=tuple(facts))


def _decide(
    spec: ReplicaSpec, replicas: int, facts: list[ReplicaFact], current: Revision | None
) -> Action:
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
    # The replicas can be ahead of the store: a runner killed between the switch and the
    # record (reconcile then records it, runner.operations.deployment.record_settled).
    recorded = current is not None and (current.spec_hash, current.model_version) == spec.revision
    where = (f"revision {current.number}" if recorded and current is not None
             else "an unrecorded revision (reconcile records it)")
    health = "healthy" if all(f.healthy for f in at_rev) else "running (health not checked)"
    return Action(name, "noop",
                  f"{name} is at {where}, {health} (model v{spec.model_version}, "
                  f"{replicas} replica{'s' if replicas != 1 else ''})", before, after)
