"""The changes made to one service: deploy (create, replace, restart) and remove.

The playbook modules (``runner.operations.service_modules``) call these, so every change
goes through a playbook and lands in the state store and the audit log. ``deploy``
converges the action it is given (the plan's, handed down by apply) and decides only
when it is given none (a play run on its own).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from runner.errors import HealthCheckFailed, PermanentError, RegistryError, ToolkitError
from runner.operations.decide import Action, plan_service
from runner.operations.desired import spec_snapshot
from runner.operations.production_alias import set_production_alias
from runner.operations.registry_facts import alias_versions, existing_versions
from runner.operations.specedit import head_commit
from runner.operations.workspace import Env
from runner.state.state_store import FAILED, SUCCESS, Revision


@dataclass
class Outcome:
    """What one operation did: the module turns it into a Result."""

    changed: bool
    msg: str
    revision: int | None = None
    data: dict[str, Any] = field(default_factory=dict)


def check_registry(env: Env, name: str) -> None:
    """Pre-check: the pinned model version exists in the registry."""
    spec = env.replica_spec(name)
    want = {(spec.model_name, spec.model_version)}
    if not existing_versions(env.tracking_uri, want):
        raise RegistryError(f"{name}: model {spec.model_name} version {spec.model_version} "
                            f"is not in the registry ({env.tracking_uri})")


def decide(env: Env, name: str) -> Action:
    """The action ``name`` needs now (facts read here): for a play run without a plan."""
    spec = env.replica_spec(name)
    facts = env.runtime.facts([name]).get(name, [])
    return plan_service(spec, env.platform.service(name).replicas, facts, env.store.current(name))


def deploy(env: Env, name: str, *, action: Action | None = None, reason: str = "",
           check_mode: bool = False) -> Outcome:
    """Converge ``name`` to its spec (create, replace, restart are all this), health-gated.

    ``action``: the plan's decision for ``name``, executed as decided; None: decide now."""
    spec = env.replica_spec(name)
    if action is None:
        action = decide(env, name)
    elif (action.after.get("spec_hash"), action.after.get("model_version")) != spec.revision:
        raise PermanentError(f"{name}: the planned action is for another spec "
                             f"({action.after}); plan again")
    current = env.store.current(name)
    if not action.changes:
        return Outcome(False, action.reason, current.number if current else None,
                       {"action": "noop", "admin_ports": [f.admin_port for f in action.observed]})
    if check_mode:
        return Outcome(True, f"would {action.kind}: {action.reason}", None,
                       {"action": action.kind})
    svc = env.platform.service(name)
    if env.runtime.dry_run:  # no cluster to act on: say what would run, record nothing
        lines = env.runtime.would_run(spec, svc.replicas)
        for line in lines:
            env.progress(f"would run: {line}")
        return Outcome(False, f"would {action.kind} on {env.runtime.name} (dry run): "
                       + " && ".join(lines), None, {"action": action.kind, "would_run": lines})
    check_registry(env, name)
    try:
        result = env.runtime.converge(spec, svc.replicas, progress=env.progress,
                                      current=list(action.observed))
    except ToolkitError as exc:
        rev = record_revision(env, name, outcome=FAILED, reason=f"{action.kind}: {exc.one_line()}")
        env.store.audit("deploy", actor=env.actor, service=name, outcome="failed",
                        revision=rev.number, error=exc.one_line())
        raise HealthCheckFailed(f"{name}: {exc.one_line()}") from None
    number = current.number if current else None
    new_revision = current is None or (current.spec_hash, current.model_version) != spec.revision
    if new_revision:
        number = record_revision(env, name, outcome=SUCCESS, reason=reason or action.reason).number
    alias = set_production_alias(env.tracking_uri, svc.model.name, svc.model.version)
    env.store.audit(action.kind, actor=env.actor, service=name, outcome="ok", revision=number,
                    reason=reason or action.reason, started=result.started,
                    stopped=result.stopped, cleaned=result.cleaned, alias=alias,
                    parked=result.parked, unparked=result.unparked)
    live = env.runtime.facts([name]).get(name, [])
    return Outcome(True, f"{action.kind}: {action.reason}; now at revision {number}", number, {
        "action": action.kind,
        "started": result.started,
        "stopped": result.stopped,
        "parked": result.parked,
        "unparked": result.unparked,
        "admin_ports": [f.admin_port for f in live if f.running],
        "alias": alias,
    })


def record_settled(env: Env, actions: Iterable[Action]) -> list[str]:
    """The bookkeeping of a deploy whose runner died after its switch; what was caught up.

    A SIGKILL between the health-gated switch and ``record_revision`` (or the alias move
    after it) leaves replicas that already serve the spec's revision while the state
    store's newest success is the old version and ``production`` still names it. The plan
    sees the replicas in sync (noop), so before this nothing ever wrote them: ``inv
    history`` and rollbacks worked from the wrong revision (issue 13, found by the kill -9
    test). For each in-sync service of ``actions`` (the caller holds the apply lock):
    record the revision if the store lacks it, move the alias if it lags. Cheap when
    there is nothing to do: one store query and one registry read for all services."""
    names = [a.service for a in actions
             if not a.changes and a.service in env.platform.services and a.after]
    if not names or env.runtime.dry_run:
        return []
    current = env.store.current_all()
    production = alias_versions(env.tracking_uri, "production")  # None: cannot tell cheaply
    done = []
    for action in (a for a in actions if a.service in names):
        name, svc = action.service, env.platform.service(action.service)
        cur = current.get(name)
        what = []
        if cur is None or (cur.spec_hash, cur.model_version) != (action.after["spec_hash"],
                                                                 action.after["model_version"]):
            rev = record_revision(env, name, outcome=SUCCESS,
                                  reason=f"recorded after an interrupted deploy: the replicas "
                                         f"already served model v{svc.model.version}")
            what.append(f"recorded revision {rev.number} (model v{svc.model.version}, its "
                        "deploy was interrupted after the switch)")
        if what or (production is not None and production.get(svc.model.name) != svc.model.version):
            what.append(set_production_alias(env.tracking_uri, svc.model.name, svc.model.version))
        if what:
            env.store.audit("record", actor=env.actor, service=name, outcome="ok",
                            reason="; ".join(what))
            done.append(f"{name}: {'; '.join(what)}")
    return done


def watch_after_deploy(env: Env, name: str, *, for_s: float) -> tuple[bool, str]:
    """Watch the live replicas of ``name`` against its spec's critical thresholds."""
    from runner.operations.watch import limits, watch

    facts = env.runtime.facts([name], check_health=False).get(name, [])
    ports = [f.admin_port for f in facts if f.running]
    return watch(ports, for_s=for_s, **limits(env.platform.service(name)))


def remove(env: Env, name: str, *, check_mode: bool = False) -> Outcome:
    """Stop every replica of a service that left the specs (prune)."""
    facts = env.runtime.facts([name], check_health=False).get(name, [])
    if not facts:
        return Outcome(False, f"{name} has no replicas")
    if check_mode:
        return Outcome(True, f"would stop {len(facts)} replica(s) of {name}")
    gone = env.runtime.remove(name, progress=env.progress)
    env.store.audit("remove", actor=env.actor, service=name, outcome="ok", replicas=gone)
    return Outcome(True, f"removed {name}: stopped {len(gone)} replica(s)", None,
                   {"stopped": gone})


def record_revision(env: Env, name: str, *, outcome: str, reason: str) -> Revision:
    """A new revision of ``name`` at its current spec, with the commit it came from."""
    svc = env.platform.service(name)
    spec = env.replica_spec(name)
    return env.store.add_revision(
        name, spec_hash=spec.spec_hash, model_name=svc.model.name,
        model_version=svc.model.version, image=svc.image, git_commit=head_commit(env.root),
        actor=env.actor, reason=reason, outcome=outcome, spec=spec_snapshot(svc),
    )
