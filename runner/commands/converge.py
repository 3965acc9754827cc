"""What ``inv plan``, ``inv reconcile``, ``inv deploy`` and ``inv rollback`` call.

Each function prints its own output (a table, or JSON with ``as_json``) and returns the
exit code that carries meaning (plan: 0 in sync, 2 changes; errors raise and exit 1).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

from runner.errors import PermanentError, SpecError, TaskFailed, TemporaryError
from runner.operations import Env, holding_apply_lock, open_env
from runner.reconcile.plan import make_plan

ROLLBACK_PLAYBOOK = "playbooks/rollback.yaml"


def dump(data: object) -> None:
    print(json.dumps(data, indent=2, default=str))


def plan_command(env_name: str = "dev", as_json: bool = False, root: Path | None = None) -> int:
    """Print the plan; 0 when in sync, 2 when there are changes (1 via errors/problems)."""
    env = open_env(root, env_name, quiet=True)
    plan = make_plan(env.platform, env.runtime, env.store, tracking_uri=env.tracking_uri)
    if as_json:
        dump(plan.as_dict())
    else:
        print(plan.render())
    if plan.problems:
        return 1
    return 2 if plan.changes else 0


def reconcile_command(
    env_name: str = "dev",
    as_json: bool = False,
    watch: float = 0.0,
    root: Path | None = None,
    max_rounds: int | None = None,
    force: bool = False,
    reason: str = "",
) -> int:
    """Converge once, or every ``watch`` seconds until interrupted (self-heal)."""
    from runner.reconcile import apply

    rounds = 0
    while True:
        started = time.monotonic()
        try:
            env = open_env(root, env_name, quiet=as_json)  # re-read specs: a commit may change
            result = apply(env, force=force, reason=reason)
            send_notices(env, result.notices)
        except (TemporaryError, SpecError) as exc:
            if watch <= 0:
                raise
            # Watching: a held lock or a broken commit is reported, and the loop goes on.
            print(f"reconcile: {exc.one_line()}", file=sys.stderr, flush=True)
            ok = False
        else:
            if as_json:
                dump(result.as_dict())
            else:
                print(result.render(), flush=True)
            env.store.close()
            ok = result.ok
        rounds += 1
        if watch <= 0 or (max_rounds is not None and rounds >= max_rounds):
            return 0 if ok else 1
        time.sleep(max(0.0, watch - (time.monotonic() - started)))


def send_notices(env: Env, notices: list[dict[str, Any]]) -> None:
    """Deliver what apply asks to announce (a crash loop held) through the sinks."""
    from runner.monitor.sinks import deliver

    for message in notices:
        try:
            for d in deliver(env.platform.platform.notifications, message, severity="critical",
                             root=env.root):
                if not d.ok:
                    env.progress(f"notification {d.sink}: {d.msg}")
        except Exception as exc:  # noqa: BLE001 - a sink failure must not hide the hold
            env.progress(f"crash-loop notification failed: {type(exc).__name__}")


def deploy_command(service: str, env_name: str = "dev", reason: str = "",
                   watch_s: float | None = None, force: bool = False) -> int:
    """Deploy one service to its spec through the deploy playbook (under the lock)."""
    from runner.reconcile import apply

    env = open_env(None, env_name)
    if service not in env.platform.services:
        raise PermanentError(f"{service} is not in the specs ({', '.join(env.platform.services)})")
    result = apply(env, services=[service], watch_s=watch_s, force=force, reason=reason)
    send_notices(env, result.notices)
    print(result.render())
    return 0 if result.ok else 1


def rollback_command(service: str, env_name: str = "dev", to_revision: int | None = None,
                     reason: str = "", commit: bool = True) -> int:
    """GitOps rollback of one service through ``playbooks/rollback.yaml`` (under the lock):
    the spec is edited and committed unless ``commit`` is off (then audited as such)."""
    from runner.operations.module_env import ENV
    from runner.operations.service_modules import service_modules
    from runner.playbook import run_playbook

    env = open_env(None, env_name)
    if service not in env.platform.services:
        raise PermanentError(f"{service} is not in the specs ({', '.join(env.platform.services)})")
    variables = {"service": service, "to_revision": to_revision, "commit": commit,
                 "reason": reason or "manual rollback", "environment": env_name}
    with holding_apply_lock(env):
        result = run_playbook(env.root / ROLLBACK_PLAYBOOK, extra_vars=variables,
                              root=env.root, state_dir=env.state, output=sys.stderr,
                              modules=service_modules(), resources={ENV: env})
    if not result.ok:
        raise TaskFailed(result.failures[-1].msg if result.failures else "rollback failed")
    print(next((r.msg for r in reversed(result.records) if r.msg), "rolled back"))
    return 0
