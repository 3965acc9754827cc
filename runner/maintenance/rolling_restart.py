"""Rolling restart and the watch after it, for every service at once.

The restart goes through the same path as a deploy (``runner.operations.deploy`` ->
the runtime's health-gated ``converge``): each replica is replaced by a fresh one at the
same revision that must pass its checks on its admin port before the old one drains and
stops, so the public port never goes without a healthy listener. The plan's facts are
handed over with every replica marked for replacement (converge keeps healthy replicas
at the revision otherwise: that is what makes it idempotent, and what a restart must
not do). A service whose replicas run another revision than its spec is refused:
maintenance restarts what runs, it does not deploy (``inv reconcile`` does).
"""

from __future__ import annotations

import threading
from dataclasses import replace
from typing import TYPE_CHECKING

from runner.errors import PermanentError
from runner.operations.decide import Action
from runner.operations.deployment import Outcome, deploy, watch_after_deploy
from runner.operations.locking import holding_apply_lock

if TYPE_CHECKING:
    from runner.operations import Env

REASON = "maintenance: rolling restart"


def restart_action(env: Env, name: str) -> Action | None:
    """The restart of every running replica of ``name``; None when none runs."""
    spec = env.replica_spec(name)
    facts = env.runtime.facts([name]).get(name, [])
    running = [f for f in facts if f.running]
    if not running:
        return None
    stale = sorted({f.model_version for f in running if f.revision != spec.revision})
    if stale:
        raise PermanentError(f"{name} runs model v{stale} but its spec pins "
                             f"v{spec.model_version}: run inv reconcile first")
    replicas = env.platform.service(name).replicas
    after = {"model_version": spec.model_version, "spec_hash": spec.spec_hash,
             "replicas": replicas}
    return Action(name, "restart", f"{REASON} of {len(running)} replica(s)",
                  {"replicas": len(running), "model_version": spec.model_version},
                  after, tuple(f.replica for f in running),
                  observed=tuple(replace(f, healthy=False) for f in facts))


def rolling_restart(env: Env, name: str, *, check_mode: bool = False) -> Outcome:
    """Replace each replica of ``name`` by a fresh one, health-gated, under the lock."""
    action = restart_action(env, name)
    if action is None:
        return Outcome(False, f"{name} has no running replica: nothing to restart")
    if check_mode:
        return Outcome(True, f"would restart {len(action.replicas)} replica(s) of {name} "
                       "one at a time", None, {"replicas": list(action.replicas)})
    with holding_apply_lock(env):
        return deploy(env, name, action=action, reason=REASON)


def watch_all(env: Env, names: list[str], *, for_s: float) -> tuple[bool, list[str]]:
    """Watch every service at once (one thread each) against its critical thresholds."""
    verdicts: dict[str, tuple[bool, str]] = {}

    def one(name: str) -> None:
        try:
            verdicts[name] = watch_after_deploy(env, name, for_s=for_s)
        except Exception as exc:  # noqa: BLE001 - a watch that broke is a failed watch
            verdicts[name] = (False, f"watch failed: {type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=one, args=(n,), daemon=True) for n in names]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    lines = [f"{n}: {verdicts[n][1]}" for n in names]
    return all(verdicts[n][0] for n in names), lines
