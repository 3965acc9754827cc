"""``inv restart --service S``: a rolling, health-gated restart at the current revision.

What the runbook's memory-leak section asks for: every replica replaced by a fresh process
of the same revision, one at a time, each new one verified (health, smoke prediction, model
version on its admin port) before the old one drains and stops, so the service never goes
without a healthy listener and no request fails. A service that is not at its spec is
refused: that is a deploy (``inv deploy``), which records a revision and watches it.
"""

from __future__ import annotations

import time

from runner.errors import HealthCheckFailed, PermanentError, ToolkitError
from runner.operations import decide, holding_apply_lock, open_env


def restart_command(service: str, env_name: str = "dev", reason: str = "") -> int:
    """Restart every replica of ``service`` (rolling); exit 1 when a candidate failed."""
    env = open_env(None, env_name)
    if service not in env.platform.services:
        raise PermanentError(f"{service} is not in the specs "
                             f"({', '.join(sorted(env.platform.services))})")
    began = time.monotonic()
    with holding_apply_lock(env):
        action = decide(env, service)
        if action.kind in ("create", "replace"):
            raise PermanentError(f"{service} is not at its spec ({action.kind}: "
                                 f"{action.reason}): inv deploy --service {service}")
        try:
            result = env.runtime.restart(env.replica_spec(service), progress=env.progress)
        except ToolkitError as exc:
            env.store.audit("restart", actor=env.actor, service=service, outcome="failed",
                            reason=reason, error=exc.one_line())
            raise HealthCheckFailed(f"{service}: restart stopped, the old replicas still "
                                    f"serve: {exc.one_line()}") from None
        env.store.audit("restart", actor=env.actor, service=service, outcome="ok",
                        reason=reason or "manual restart", started=result.started,
                        stopped=result.stopped,
                        duration_s=round(time.monotonic() - began, 3))
    print(f"restarted {service}: {len(result.stopped)} replica(s) replaced by "
          f"{', '.join(result.started) or 'none'} ({time.monotonic() - began:.1f}s)")
    return 0
