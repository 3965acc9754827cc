"""GitOps rollback of one service: pin an earlier revision in its spec, commit, converge.

The spec edit and the commit are one step: when either fails (a stale ``.git/index.lock``,
an overlay that overrides the version) the original spec is put back before anything is
deployed, so the working tree never holds a state that is not in git.
"""

from __future__ import annotations

from runner.errors import PermanentError, ToolkitError
from runner.operations.deployment import Outcome, deploy
from runner.operations.specedit import commit_spec, edit_service_spec, restored_on_failure
from runner.operations.workspace import Env
from runner.state.state_store import ROLLED_BACK, SUCCESS, Revision


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


def pin_and_commit(env: Env, name: str, target: Revision, *, reason: str,
                   commit: bool) -> tuple[bool, str]:
    """Pin ``target`` in the spec and commit it: (edited, commit id). All or nothing."""
    path = env.spec_file(name)
    try:
        with restored_on_failure(env.root, path):
            edited = edit_service_spec(path, version=target.model_version,
                                       image=target.image or None)
            env.reload()
            if env.platform.service(name).model.version != target.model_version:
                raise PermanentError(f"{path.name} now pins v{target.model_version} but the "
                                     f"{env.environment} overlay overrides model.version")
            commit_id = ""
            if edited and commit:
                commit_id = commit_spec(
                    env.root, path,
                    f"rollback {name} to model v{target.model_version} (revision "
                    f"{target.number}): {reason}",
                )
    except ToolkitError:
        env.reload()  # the restored spec, not the abandoned edit
        raise
    return edited, commit_id


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
    svc = env.platform.service(name)
    before = {"model_version": svc.model.version, "image": svc.image}
    after = {"model_version": target.model_version, "image": target.image or svc.image}
    if check_mode:
        return Outcome(before != after, f"would roll {name} back to revision {target.number} "
                       f"(model v{target.model_version})", target.number)
    abandoned = env.store.current(name)
    edited, commit_id = pin_and_commit(env, name, target, reason=reason, commit=commit)
    # A new decision: the plan that led here (if any) was for the spec just replaced.
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
