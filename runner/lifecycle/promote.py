"""Promotion, the GitOps way: pin the winner in the service spec, commit, then deploy.

The spec is the source of truth (the ``production`` alias follows it), so a promotion is
a spec commit whose message carries the gate's comparison, followed by the same deploy
reconcile runs (``runner.reconcile.apply``: the deploy playbook under the apply lock,
health-gated rolling switch, post-deploy watch, automatic GitOps rollback on failure).
The spec edit and the commit reuse reconcile's ``specedit`` helpers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from runner.errors import PermanentError
from runner.lifecycle.common import ServiceContext


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
            deploy: bool = True) -> dict[str, Any]:
    """Edit + commit the spec, audit it, deploy; returns what happened (``ok``, ``msg``)."""
    from runner.reconcile.specedit import commit_spec, edit_service_spec
    from runner.spec import load_platform
    from runner.state import StateStore

    version = int(outcome["candidate_version"])
    path = ctx.spec_file
    before = ctx.spec.model.version
    original = path.read_text()
    edited = edit_service_spec(path, version=version)
    try:
        pinned = load_platform(ctx.root, ctx.env).service(ctx.name).model.version
    except Exception:
        path.write_text(original)  # never leave a half-done promotion in the working tree
        raise
    if pinned != version:
        path.write_text(original)
        raise PermanentError(f"{path.name} would pin v{version} but the {ctx.env} overlay "
                             "overrides model.version; not promoted")
    commit = commit_spec(ctx.root, path, commit_message(ctx, outcome, reason)) if edited else ""
    store = StateStore(ctx.state)
    try:
        store.audit("promote", actor=actor, service=ctx.name, outcome="ok",
                    model=ctx.spec.model.name, from_version=before, to_version=version,
                    commit=commit, reason=reason, gate=outcome["summary"][:500])
    finally:
        store.close()
    result: dict[str, Any] = {"commit": commit, "from_version": before, "to_version": version,
                              "deployed": False, "ok": True}
    if not deploy:
        result["msg"] = f"spec pins v{version} (commit {commit[:8]}); not deployed"
        return result
    from runner.reconcile.apply import apply
    from runner.reconcile.context import open_env

    env = open_env(ctx.root, ctx.env, quiet=True)
    try:
        applied = apply(env, services=[ctx.name])
    finally:
        env.store.close()
    result["deployed"] = True
    result["ok"] = applied.ok
    result["msg"] = "; ".join(o.msg for o in applied.outcomes) or "already serving"
    return result
