"""What ``inv maintenance`` and ``inv windows`` call.

``inv maintenance`` runs ``playbooks/maintenance.yaml`` only inside a maintenance window
of the platform spec; outside one it says when the next opens, unless ``--force
--reason`` (audited). Check mode runs anywhere: it changes nothing and lists exactly what
clean-up would delete. Steps left out with ``--skip`` are audited too.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runner.errors import PermanentError, TaskFailed
from runner.operations import open_env

if TYPE_CHECKING:
    from runner.maintenance.notices import Send
    from runner.operations import Env

PLAYBOOK = "playbooks/maintenance.yaml"
STEPS = ("backup", "audit", "cleanup", "restart", "watch")


def _skipped(skip: str) -> list[str]:
    steps = [s.strip() for s in skip.split(",") if s.strip()]
    unknown = sorted(set(steps) - set(STEPS))
    if unknown:
        raise PermanentError(f"--skip: unknown step {', '.join(unknown)} "
                             f"(steps: {', '.join(STEPS)})")
    return steps


def spec_sinks(env: Env) -> Send:
    """A ``Send`` over the spec's ``notifications:`` (each sink's min_severity applies)."""
    from runner.monitor.sinks import deliver

    plat = env.platform.platform

    def send(text: str, level: str, data: dict[str, Any]) -> list[str]:
        message = {"kind": "maintenance", "environment": env.environment, "severity": level,
                   "text": text, **data}
        sent = deliver(plat.notifications, message, severity=level, root=env.root,
                       configured_state=plat.state_dir)
        return [f"{d.sink}: {d.msg}" for d in sent]

    return send


def maintenance_command(env_name: str = "dev", *, force: bool = False, reason: str = "",
                        check: bool = False, skip: str = "", watch_s: float | None = None,
                        root: Path | None = None) -> int:
    """Run the maintenance playbook (inside a window, or forced); the exit code."""
    from runner.maintenance.notices import NOTIFY
    from runner.operations.service_modules import ENV
    from runner.playbook import run_playbook
    from runner.playbook_catalog import toolkit_modules
    from runner.schedule.gates import require_maintenance_window
    from runner.schedule.windows import now_utc, open_now

    steps = _skipped(skip)
    env = open_env(root, env_name)
    try:
        if check:
            current = open_now(env.platform.platform.maintenance, "maintenance", now_utc())
            forced = False
        else:
            current, forced = require_maintenance_window(env, "maintenance", force=force,
                                                         reason=reason)
        window = (current.describe() if current else
                  f"outside any window, forced: {reason}" if forced else "check mode")
        if steps and not check:
            env.store.audit("maintenance.skip", actor=env.actor, outcome="skipped",
                            steps=steps, reason=reason)
        spec = env.platform.platform.maintenance
        variables = {"environment": env_name, "services": sorted(env.platform.services),
                     "watch_s": spec.watch_s if watch_s is None else watch_s,
                     "window": window, "skip": steps}
        env.progress(f"maintenance of {env_name}: {window}")
        result = run_playbook(env.root / PLAYBOOK, extra_vars=variables, check=check,
                              root=env.root, state_dir=env.state, output=sys.stderr,
                              modules=toolkit_modules(),
                              resources={ENV: env, NOTIFY: spec_sinks(env)})
        if not check:
            env.store.audit("maintenance", actor=env.actor,
                            outcome="ok" if result.ok else "failed", window=window,
                            forced=forced, skipped=steps, recap=result.recap(),
                            duration_s=round(result.duration_s, 3))
    finally:
        env.store.close()
    if not result.ok:
        raise TaskFailed(result.failures[-1].msg if result.failures else "maintenance failed")
    print(f"maintenance {'checked' if check else 'done'}: {result.recap()}")
    return 0


def windows_command(env_name: str = "dev", *, count: int = 3, as_json: bool = False,
                    notify: bool = False, root: Path | None = None) -> int:
    """``inv windows``: the open window and the next openings of each kind; ``notify``
    sends the advance notices that are due."""
    from runner.maintenance.notices import advance_notices
    from runner.schedule.windows import now_utc, render, schedule

    env = open_env(root, env_name, quiet=True)
    try:
        at = now_utc()
        table = schedule(env.platform.platform.maintenance, at, count)
        notices = advance_notices(env, spec_sinks(env), at=at) if notify else []
    finally:
        env.store.close()
    if as_json:
        print(json.dumps({"now": at.isoformat(), "notices": notices, **{
            kind: {"open": row["open"].as_dict() if row["open"] else None,
                   "next": [o.as_dict() for o in row["next"]]}
            for kind, row in table.items()}}, indent=2))
    else:
        print(render(table, at))
        for line in notices:
            print(line)
    return 0
