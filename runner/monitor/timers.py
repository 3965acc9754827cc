"""The monitor's clock: escalate unacknowledged pages, start the scheduled backup.

One daemon thread wakes every ``TICK_S``; each tick is independent and failures are
logged, never raised (the webhook must keep answering). The backup runs as a detached
child (``python -m runner.backup``) like an alert procedure; its last scheduled start is
kept in ``<state>/monitor/schedule.json`` so a restarted monitor neither repeats nor skips
one: a start is due when the cron's next fire time after the last start has passed.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable

from runner.monitor import audit_access as store
from runner.monitor import escalation
from runner.monitor.actions import Ledger
from runner.monitor.dispatcher import Context
from runner.state.paths import PRIVATE_UMASK, private_opener

log = logging.getLogger("runner.monitor")
TICK_S = 30.0


def backup_due(ctx: Context, now: float) -> bool:
    """Whether the spec's backup schedule fired since the last scheduled start (a first
    tick only records the time: starting the monitor is not a reason to back up)."""
    from croniter import croniter

    with Ledger(ctx.state, "schedule").locked() as entries:
        last = entries.get("backup", {}).get("at")
        if last is None:
            entries["backup"] = {"at": now}
            return False
        fire = croniter(ctx.platform.platform.backup.schedule, float(last)).get_next(float)
        if now < fire:
            return False
        entries["backup"] = {"at": now}
        return True


def start_backup(ctx: Context) -> int:
    """Launch ``python -m runner.backup`` detached; its pid."""
    logfile = ctx.state / "run" / "procedures" / f"backup-{time.strftime('%Y%m%dT%H%M%S')}.log"
    logfile.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "MLGITOPS_ROOT": str(ctx.root), "MLGITOPS_STATE_DIR": str(ctx.state),
           "MLGITOPS_ACTOR": os.environ.get("MLGITOPS_ACTOR", "monitor")}
    with open(logfile, "ab", opener=private_opener) as out:
        child = subprocess.Popen(  # noqa: S603 - argv list
            [sys.executable, "-m", "runner.backup", "--env", ctx.env, "--tag", "scheduled"],
            env=env, cwd=str(ctx.root), stdin=subprocess.DEVNULL, stdout=out,
            stderr=subprocess.STDOUT, start_new_session=True, umask=PRIVATE_UMASK,
        )
    threading.Thread(target=child.wait, name=f"reap-{child.pid}", daemon=True).start()
    store.audit("backup.scheduled", outcome="started", state=ctx.state, pid=child.pid,
                schedule=ctx.platform.platform.backup.schedule, log=str(logfile))
    return child.pid


def tick(ctx: Context, now: float | None = None) -> dict[str, object]:
    """One round: escalations due, then the backup schedule. What it did."""
    now = time.time() if now is None else now
    done: dict[str, object] = {}
    try:
        done["escalated"] = [p["key"] for p in escalation.check_due(ctx.platform, ctx.state, now)]
    except Exception:  # noqa: BLE001 - logged; the next tick tries again
        log.exception("escalation check failed")
    try:
        if backup_due(ctx, now):
            done["backup_pid"] = start_backup(ctx)
    except Exception:  # noqa: BLE001
        log.exception("scheduled backup failed to start")
    return done


def start(current: Callable[[], Context], stop: threading.Event,
          interval_s: float = TICK_S) -> threading.Thread:
    """Tick every ``interval_s`` on a daemon thread with the monitor's current context."""
    def loop() -> None:
        while not stop.wait(interval_s):
            tick(current())

    thread = threading.Thread(target=loop, name="monitor-timers", daemon=True)
    thread.start()
    return thread
