"""What the invoke tasks call: plan, reconcile, deploy, rollback, status, history.

Each function prints its own output (a table, or JSON with ``as_json``) and returns the
exit code that carries meaning (plan: 0 in sync, 2 changes; errors raise and exit 1).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from runner.errors import PermanentError, SpecError, TaskFailed, TemporaryError
from runner.reconcile.context import Env, open_env
from runner.reconcile.plan import make_plan
from runner.state.lock import apply_lock

ROLLBACK_PLAYBOOK = "playbooks/rollback.yaml"


def _dump(data: object) -> None:
    print(json.dumps(data, indent=2, default=str))


def plan_command(env_name: str = "dev", as_json: bool = False, root: Path | None = None) -> int:
    """Print the plan; 0 when in sync, 2 when there are changes (1 via errors/problems)."""
    env = open_env(root, env_name, quiet=True)
    plan = make_plan(env.platform, env.runtime, env.store, tracking_uri=env.tracking_uri)
    if as_json:
        _dump(plan.as_dict())
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
) -> int:
    """Converge once, or every ``watch`` seconds until interrupted (self-heal)."""
    from runner.reconcile.apply import apply

    rounds = 0
    while True:
        started = time.monotonic()
        try:
            env = open_env(root, env_name, quiet=as_json)  # re-read specs: a commit may change
            result = apply(env)
        except (TemporaryError, SpecError) as exc:
            if watch <= 0:
                raise
            # Watching: a held lock or a broken commit is reported, and the loop goes on.
            print(f"reconcile: {exc.one_line()}", file=sys.stderr, flush=True)
            ok = False
        else:
            if as_json:
                _dump(result.as_dict())
            else:
                print(result.render(), flush=True)
            env.store.close()
            ok = result.ok
        rounds += 1
        if watch <= 0 or (max_rounds is not None and rounds >= max_rounds):
            return 0 if ok else 1
        time.sleep(max(0.0, watch - (time.monotonic() - started)))


def deploy_command(service: str, env_name: str = "dev", reason: str = "",
                   watch_s: float | None = None) -> int:
    """Deploy one service to its spec through the deploy playbook (under the lock)."""
    from runner.reconcile.apply import apply

    env = open_env(None, env_name)
    if service not in env.platform.services:
        raise PermanentError(f"{service} is not in the specs ({', '.join(env.platform.services)})")
    result = apply(env, services=[service], watch_s=watch_s)
    print(result.render())
    return 0 if result.ok else 1


def rollback_command(service: str, env_name: str = "dev", to_revision: int | None = None,
                     reason: str = "", commit: bool = True) -> int:
    """GitOps rollback of one service through ``playbooks/rollback.yaml`` (under the lock):
    the spec is edited and committed unless ``commit`` is off (then audited as such)."""
    from runner.playbook import run_playbook
    from runner.reconcile import context
    from runner.reconcile.modules import service_modules

    env = open_env(None, env_name)
    if service not in env.platform.services:
        raise PermanentError(f"{service} is not in the specs ({', '.join(env.platform.services)})")
    variables = {"service": service, "to_revision": to_revision, "commit": commit,
                 "reason": reason or "manual rollback", "environment": env_name}
    with apply_lock(env.store, actor=env.actor):
        context.bind(env)
        try:
            result = run_playbook(env.root / ROLLBACK_PLAYBOOK, extra_vars=variables,
                                  root=env.root, state_dir=env.state, output=sys.stderr,
                                  modules=service_modules())
        finally:
            context.bind(None)
    if not result.ok:
        raise TaskFailed(result.failures[-1].msg if result.failures else "rollback failed")
    print(next((r.msg for r in reversed(result.records) if r.msg), "rolled back"))
    return 0


def status_rows(env: Env) -> list[dict[str, object]]:
    """One row per service: desired vs running, revision, health, pids."""
    facts = env.runtime.facts(None)
    current = env.store.current_all()
    rows: list[dict[str, object]] = []
    for name in sorted(set(env.platform.services) | set(facts)):
        svc = env.platform.services.get(name)
        live = [f for f in facts.get(name, []) if f.running]
        rev = current.get(name)
        rows.append({
            "service": name,
            "port": svc.port if svc else (live[0].port if live else None),
            "desired_version": svc.model.version if svc else None,
            "running_versions": sorted({f.model_version for f in live}),
            "replicas": f"{len(live)}/{svc.replicas if svc else 0}",
            "healthy": bool(live) and all(f.healthy for f in live),
            "revision": rev.number if rev else None,
            "pids": [f.pid for f in live],
            # Parked previous revision (warm standby for a fast rollback): not serving.
            "standby_versions": sorted({f.model_version for f in env.runtime.standby(name)
                                        if f.running}),
        })
    return rows


def status_command(env_name: str = "dev", as_json: bool = False) -> int:
    from runner.reconcile.platform import daemon_rows

    env = open_env(None, env_name, quiet=True)
    rows = status_rows(env)
    daemons = daemon_rows(env)
    if as_json:
        _dump({"services": rows, "platform": daemons})
        return 0
    print(status_table(rows, daemons))
    return 0


def status_table(rows: list[dict[str, object]], daemons: list[dict[str, object]]) -> str:
    head = f"{'SERVICE':<14}{'PORT':<7}{'MODEL':<8}{'RUNNING':<10}{'REPLICAS':<10}"
    head += f"{'REV':<6}{'HEALTH':<10}PIDS"
    lines = [head]
    for r in rows:
        running = ",".join(f"v{v}" for v in r["running_versions"]) or "-"  # type: ignore[attr-defined]
        desired = f"v{r['desired_version']}" if r["desired_version"] else "-"
        lines.append(
            f"{r['service']:<14}{r['port'] or '-'!s:<7}{desired:<8}{running:<10}"
            f"{r['replicas']!s:<10}{r['revision'] or '-'!s:<6}"
            f"{'healthy' if r['healthy'] else 'DOWN':<10}{','.join(map(str, r['pids']))}"  # type: ignore[call-overload]
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
        _dump({"revisions": [r.as_dict() for r in revisions],
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
