"""Promotion, the GitOps way: pin the winner in the service spec, commit, then deploy.

The spec is the source of truth (the ``production`` alias follows it), so a promotion is
a spec commit whose message carries the gate's comparison, followed by the same deploy
reconcile runs (``runner.reconcile.apply``: the deploy playbook, health-gated rolling
switch, post-deploy watch, automatic GitOps rollback on failure).

Edit, commit and deploy run under the apply lock (an ``inv reconcile`` meanwhile would
deploy a half-made promotion), and the edit is undone when the check or the commit fails
(``runner.operations.specedit``): nothing is deployed from a spec that is not in git.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from runner.errors import PermanentError
from runner.lifecycle.common import ServiceContext

if TYPE_CHECKING:
    from runner.operations import Env


def commit_message(ctx: ServiceContext, outcome: dict[str, Any], reason: str) -> str:
    metric = ctx.spec.gate.metric
    cand = outcome["candidate"].get(metric)
    champ = (outcome["champion"] or {}).get(metric)
    head = (f"promote {ctx.name} to model v{outcome['candidate_version']} "
            f"(from v{outcome['champion_version']}): {metric} {cand:.4f}")
    head += f" vs {champ:.4f}" if champ is not None else " (no champion score)"
    body = [f"reason: {reason}", outcome["summary"],
            f"held-out rows: {outcome['holdout_rows']}, data {outcome['data_version'][:12]} "
            f"({Path(outcome['data']).name})",
            f"candidate: {outcome['candidate']}", f"champion: {outcome['champion']}"]
    return head + "\n\n" + "\n".join(body)


def promote(ctx: ServiceContext, outcome: dict[str, Any], *, actor: str, reason: str,
            deploy: bool = True, force: bool = False) -> dict[str, Any]:
    """Edit + commit the spec, audit it, deploy; returns what happened (``ok``, ``msg``).

    Inside a freeze window: refused before the spec is touched, unless ``force``."""
    from runner.operations import holding_apply_lock, open_env
    from runner.schedule.gates import refuse_if_frozen

    env = open_env(ctx.root, ctx.env, quiet=True)
    try:
        with holding_apply_lock(env):
            refuse_if_frozen(env, f"promote {ctx.name} to v{outcome['candidate_version']}",
                             service=ctx.name, force=force, reason=reason)
            return _promote_locked(env, ctx, outcome, actor=actor, reason=reason, deploy=deploy,
                                   force=force)
    finally:
        env.store.close()


def _promote_locked(env: Env, ctx: ServiceContext, outcome: dict[str, Any], *, actor: str,
                    reason: str, deploy: bool, force: bool = False) -> dict[str, Any]:
    from runner.operations.specedit import commit_spec, edit_service_spec, restored_on_failure
    from runner.spec import load_platform

    version = int(outcome["candidate_version"])
    path = ctx.spec_file
    before = ctx.spec.model.version
    with restored_on_failure(ctx.root, path):  # never a half-done promotion in the tree
        edited = edit_service_spec(path, version=version)
        pinned = load_platform(ctx.root, ctx.env).service(ctx.name).model.version
        if pinned != version:
            raise PermanentError(f"{path.name} would pin v{version} but the {ctx.env} overlay "
                                 "overrides model.version; not promoted")
        commit = commit_spec(ctx.root, path, commit_message(ctx, outcome, reason)) if edited else ""
    env.store.audit("promote", actor=actor, service=ctx.name, outcome="ok",
                    model=ctx.spec.model.name, from_version=before, to_version=version,
                    commit=commit, reason=reason, gate=outcome["summary"][:500])
    result: dict[str, Any] = {"commit": commit, "from_version": before, "to_version": version,
                              "deployed": False, "ok": True}
    if not deploy:
        result["msg"] = f"spec pins v{version} (commit {commit[:8]}); not deployed"
        return result
    from runner.reconcile import apply

    env.reload()  # the committed spec
    applied = apply(env, services=[ctx.name], force=force, reason=reason)
    result["deployed"] = True
    result["ok"] = applied.ok
    result["msg"] = "; ".join(o.msg for o in applied.outcomes) or "already serving"
    return result
