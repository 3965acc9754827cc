"""The changes reconcile makes, one service at a time: deploy, remove, roll back.

The playbook modules (``service``, ``rollback``) call these; so does nothing else, so
every change goes through a playbook and lands in the state store and the audit log.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from runner.errors import HealthCheckFailed, PermanentError, RegistryError, ToolkitError
from runner.reconcile.context import Env
from runner.reconcile.desired import spec_snapshot
from runner.reconcile.registry import existing_versions
from runner.reconcile.specedit import commit_spec, edit_service_spec, head_commit
from runner.state.store import FAILED, ROLLED_BACK, SUCCESS, Revision


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


def deploy(env: Env, name: str, *, reason: str = "", check_mode: bool = False) -> Outcome:
    """Converge ``name`` to its spec (create, replace, restart are all this), health-gated."""
    spec = env.replica_spec(name)
    replicas = env.platform.service(name).replicas
    facts = env.runtime.facts([name]).get(name, [])
    current = env.store.current(name)
    from runner.reconcile.plan import plan_service

    action = plan_service(spec, replicas, facts, current)
    if not action.changes:
        return Outcome(False, action.reason, current.number if current else None,
                       {"action": "noop", "admin_ports": [f.admin_port for f in facts]})
    if check_mode:
        return Outcome(True, f"would {action.kind}: {action.reason}", None,
                       {"action": action.kind})
    check_registry(env, name)
    svc = env.platform.service(name)
    try:
        result = env.runtime.converge(spec, replicas, progress=env.progress)
    except ToolkitError as exc:
        rev = _record(env, name, outcome=FAILED, reason=f"{action.kind}: {exc.one_line()}")
        env.store.audit("deploy", actor=env.actor, service=name, outcome="failed",
                        revision=rev.number, error=exc.one_line())
        raise HealthCheckFailed(f"{name}: {exc.one_line()}") from None
    number = current.number if current else None
    new_revision = current is None or (current.spec_hash, current.model_version) != spec.revision
    if new_revision:
        number = _record(env, name, outcome=SUCCESS, reason=reason or action.reason).number
    alias = set_production_alias(env, svc.model.name, svc.model.version)
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


def _record(env: Env, name: str, *, outcome: str, reason: str) -> Revision:
    svc = env.platform.service(name)
    spec = env.replica_spec(name)
    return env.store.add_revision(
        name, spec_hash=spec.spec_hash, model_name=svc.model.name,
        model_version=svc.model.version, image=svc.image, git_commit=head_commit(env.root),
        actor=env.actor, reason=reason, outcome=outcome, spec=spec_snapshot(svc),
    )


def rollback_target(env: Env, name: str, to_revision: int | None) -> Revision:
    """The revision to go back to: ``to_revision``, else the last good one before now."""
    if to_revision is not None:
        target = env.store.revision(name, to_revision)
        if target is None:
            raise PermanentError(f"{name} has no revision {to_revision} (see inv history)")
        return target
    spec = env.replica_spec(name)
    revisions = env.store.revisions(name)
    good = [r for r in revisions if r.outcome == SUCCESS]
    # The newest good revision that differs from what the spec asks for now.
    for rev in reversed(good):
        if (rev.spec_hash, rev.model_version) != spec.revision:
            return rev
    raise PermanentError(f"{name} has no earlier good revision to roll back to")


def rollback(
    env: Env,
    name: str,
    *,
    to_revision: int | None = None,
    reason: str = "",
    commit: bool = True,
    check_mode: bool = False,
) -> Outcome:
    """GitOps rollback: pin the target's model version (and image) in the spec, commit it,
    then converge to it with the same health-gated rolling switch as a deploy."""
    target = rollback_target(env, name, to_revision)
    reason = reason or "manual rollback"
    path = env.spec_file(name)
    svc = env.platform.service(name)
    before = {"model_version": svc.model.version, "image": svc.image}
    after = {"model_version": target.model_version, "image": target.image or svc.image}
    if check_mode:
        return Outcome(before != after, f"would roll {name} back to revision {target.number} "
                       f"(model v{target.model_version})", target.number)
    abandoned = env.store.current(name)
    edited = edit_service_spec(path, version=target.model_version, image=target.image or None)
    env.reload()
    if env.platform.service(name).model.version != target.model_version:
        raise PermanentError(f"{path.name} now pins v{target.model_version} but the "
                             f"{env.environment} overlay overrides model.version")
    commit_id = ""
    if edited and commit:
        commit_id = commit_spec(
            env.root, path,
            f"rollback {name} to model v{target.model_version} (revision {target.number}): "
            f"{reason}",
        )
    outcome = deploy(env, name, reason=f"rollback to revision {target.number}: {reason}")
    if abandoned is not None and abandoned.model_version != target.model_version:
        env.store.set_outcome(name, abandoned.number, ROLLED_BACK)
    env.store.audit("rollback", actor=env.actor, service=name, outcome="ok",
                    to_revision=target.number, model_version=target.model_version,
                    reason=reason, no_commit=not commit, commit=commit_id, spec_edited=edited)
    note = "" if commit else " (--no-commit: spec edited, not committed)"
    return Outcome(True, f"rolled {name} back to model v{target.model_version} "
                   f"(revision {target.number}){note}", outcome.revision,
                   {**outcome.data, "commit": commit_id, "to_revision": target.number})


def set_production_alias(env: Env, model: str, version: int) -> str:
    """Point the registry alias ``production`` at the spec's version (the alias follows)."""
    from runner.reconcile.registry import alias_version

    if alias_version(env.tracking_uri, model, "production") == version:
        return f"production -> v{version} (unchanged)"
    try:
        from mlflow import MlflowClient  # heavy: only when the alias must move

        uri = env.tracking_uri
        MlflowClient(tracking_uri=uri, registry_uri=uri).set_registered_model_alias(
            model, "production", str(version)
        )
    except Exception as exc:  # the deploy succeeded; report, do not undo it
        return f"production alias not set: {type(exc).__name__}: {str(exc)[:200]}"
    return f"production -> v{version}"
