"""What ``inv status`` and ``inv history`` print: services against their specs, the
platform's processes, and one service's revisions and audit events."""

from __future__ import annotations

import json
import time

from runner.commands.converge import dump
from runner.monitor.platform_status import (  # noqa: F401 - the names platform_up imports
    daemon_rows,
    last_synced,
    mlflow_daemon,
    monitoring_daemons,
    status_data,
    status_rows,
)
from runner.operations import open_env
from runner.state.sync_log import latest


def status_command(env_name: str = "dev", as_json: bool = False, watch: float = 0.0) -> int:
    """Print the status once, or (``watch`` seconds) refreshed in place until Ctrl-C."""
    import sys

    env = open_env(None, env_name, quiet=True)
    while True:
        data = status_data(env)
        sync = latest(env.store, env_name)  # the pull loop's sync status (issue 12)
        data["sync"] = sync.as_dict()
        if as_json:
            dump(data)
        else:
            text = status_table(data["services"], data["platform"])  # type: ignore[arg-type]
            text += "\n\n" + synced_line(data)
            if sync.status != "unknown":
                text += (f"\nSYNC ({env_name}): {sync.status}, last synced "
                         f"{sync.synced_commit[:12] or '-'}"
                         + (f", refused {sync.refused_commit[:12]}: {sync.reason}"
                            if sync.refused_commit else ""))
            if watch > 0 and sys.stdout.isatty():
                # Home and clear below: the table redraws where it was, no scrolling.
                text = "\x1b[H\x1b[J" + time.strftime("%H:%M:%S ") + \
                    f"every {watch:g}s (Ctrl-C to stop)\n\n" + text
            print(text, flush=True)
        if watch <= 0:
            return 0
        try:
            time.sleep(watch)
        except KeyboardInterrupt:
            return 0


def synced_line(data: dict[str, object]) -> str:
    sha = str(data.get("last_synced_commit") or "")
    if not sha:
        return f"last synced: {data.get('last_synced_source')}"
    at = data.get("last_synced_at")
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(float(at))) if at else "?"  # type: ignore[arg-type]
    return (f"last synced: {sha[:8]} {data.get('last_synced_subject')!s:.60} ({when}, "
            f"from {data.get('last_synced_source')})")


def status_table(rows: list[dict[str, object]], daemons: list[dict[str, object]]) -> str:
    head = f"{'SERVICE':<14}{'PORT':<7}{'MODEL':<8}{'RUNNING':<10}{'REPLICAS':<10}"
    head += f"{'REV':<6}{'HEALTH':<10}{'STANDBY':<9}PIDS"
    lines = [head]
    for r in rows:
        running = ",".join(f"v{v}" for v in r["running_versions"]) or "-"  # type: ignore[attr-defined]
        desired = f"v{r['desired_version']}" if r["desired_version"] else "-"
        standby = ",".join(f"v{v}" for v in r.get("standby_versions") or []) or "-"  # type: ignore[attr-defined]
        lines.append(
            f"{r['service']:<14}{r['port'] or '-'!s:<7}{desired:<8}{running:<10}"
            f"{r['replicas']!s:<10}{r['revision'] or '-'!s:<6}"
            f"{'healthy' if r['healthy'] else 'DOWN':<10}{standby:<9}"
            f"{','.join(map(str, r['pids']))}"  # type: ignore[call-overload]
        )
    lines.append("")
    lines.append(f"{'COMPONENT':<14}{'PORT':<7}{'STATE':<14}PID")
    for d in daemons:
        lines.append(f"{d['name']!s:<14}{d['port']!s:<7}{d['state']!s:<14}{d['pid'] or '-'}")
    return "\n".join(lines)


def history_command(service: str, env_name: str = "dev", as_json: bool = False) -> int:
    """Revisions and audit events of one service, oldest first."""
    env = open_env(None, env_name, quiet=True)
    revisions = env.store.revisions(service)
    events = env.store.events(service)
    if as_json:
        dump({"revisions": [r.as_dict() for r in revisions],
               "audit": [e.__dict__ for e in events]})
        return 0
    if not revisions and not events:
        print(f"{service}: no history")
        return 0
    print(f"{'REV':<5}{'WHEN':<21}{'MODEL':<7}{'SPEC':<10}{'OUTCOME':<13}{'ACTOR':<12}"
          f"{'COMMIT':<9}REASON")
    for r in revisions:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(r.created_at))
        print(f"{r.number:<5}{when:<21}v{r.model_version:<6}{r.spec_hash[:8]:<10}"
              f"{r.outcome:<13}{r.actor[:11]:<12}{r.git_commit[:8]:<9}{r.reason}")
    print("\nAudit:")
    for e in events:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(e.at))
        extra = {k: v for k, v in e.detail.items() if k in ("reason", "no_commit", "error",
                                                            "to_revision", "revision")}
        print(f"  {when} {e.action:<9} {e.outcome:<7} {e.actor} {json.dumps(extra)}")
    return 0
