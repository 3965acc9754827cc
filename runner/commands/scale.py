"""``inv scale --service S --replicas N [--reason TEXT]``: scale the GitOps way.

The replica count lives in the spec, so scaling is a spec change: ``replicas:`` edited in
``specs/services/S.yaml``, committed with the reason, then the service reconciled (the
plan says ``replicas 1 -> 3``; new replicas start health-gated beside the serving ones, or
surplus ones drain and stop). The spec's ``scaling: {min, max}`` bounds are enforced
before anything changes. Edit and commit are one step (``restored_on_failure``): a failed
commit leaves the old spec, nothing deployed.
"""

from __future__ import annotations

import time

from runner.errors import PermanentError, ToolkitError
from runner.operations import Env, holding_apply_lock, open_env
from runner.operations.specedit import commit_spec, edit_replicas, restored_on_failure


def check_bounds(env: Env, service: str, replicas: int) -> None:
    svc = env.platform.service(service)
    low, high = svc.scaling.min, svc.scaling.max
    if not low <= replicas <= high:
        raise PermanentError(f"{service}: {replicas} replicas is outside its scaling bounds "
                             f"{low}..{high} (scaling: in specs/services/{service}.yaml)")


def edit_and_commit(env: Env, service: str, replicas: int, *, reason: str) -> str:
    """``replicas: N`` in the spec, committed: the commit id ("" when already N)."""
    path = env.spec_file(service)
    try:
        with restored_on_failure(env.root, path):
            edited = edit_replicas(path, replicas)
            env.reload()
            if env.platform.service(service).replicas != replicas:
                raise PermanentError(f"{path.name} now says {replicas} replicas but the "
                                     f"{env.environment} overlay overrides replicas")
            if not edited:
                return ""
            return commit_spec(env.root, path, f"scale {service} to {replicas} replica"
                                               f"{'s' if replicas != 1 else ''}: {reason}")
    except ToolkitError:
        env.reload()  # the restored spec, not the abandoned edit
        raise


def scale_command(service: str, replicas: int, env_name: str = "dev", reason: str = "",
                  watch_s: float | None = None) -> int:
    """Edit, commit, reconcile ``service``; exit 1 when the apply failed."""
    from runner.commands.platform_up import show_outcomes, show_plan
    from runner.reconcile import apply

    if replicas < 1:
        raise PermanentError("give the new replica count: --replicas N (1 or more)")
    env = open_env(None, env_name)
    if service not in env.platform.services:
        raise PermanentError(f"{service} is not in the specs "
                             f"({', '.join(sorted(env.platform.services))})")
    check_bounds(env, service, replicas)
    reason = reason or "manual scale"
    began = time.monotonic()
    with holding_apply_lock(env):  # edit, commit and converge: no apply in between
        before = env.platform.service(service).replicas
        commit = edit_and_commit(env, service, replicas, reason=reason)
        if commit:
            env.progress(f"committed {commit[:8]}: scale {service} {before} -> {replicas}")
        else:
            env.progress(f"{service}'s spec already says {replicas} replicas: reconciling")
        result = apply(env, services=[service], watch_s=watch_s, on_plan=show_plan)
        env.store.audit("scale", actor=env.actor, service=service,
                        outcome="ok" if result.ok else "failed", reason=reason,
                        replicas_from=before, replicas_to=replicas, commit=commit,
                        duration_s=round(time.monotonic() - began, 3))
    show_outcomes(result)
    return 0 if result.ok else 1
