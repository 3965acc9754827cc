"""What ``inv status --json`` and the monitor's status page both show: each service against
its spec (desired and running model version, revision, replicas, health, parked standby),
each platform component's health, and the last commit synced from git.

Bounded for the monitor: health checks have short timeouts and run in parallel, so one
hung component costs the page at most a couple of seconds.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from runner.operations import Env
from runner.runtime import daemons

HEALTH_TIMEOUT_S = 2.0


def mlflow_daemon(env: Env) -> daemons.Daemon:
    m = env.platform.platform.mlflow
    return daemons.mlflow_daemon(env.state, m.port, m.workers)


def monitoring_daemons(env: Env) -> list[daemons.Daemon]:
    """The monitor, and Prometheus and Alertmanager when installed (NotInstalled: skipped)."""
    from runner.errors import NotInstalled
    from runner.monitor.daemon import monitor_daemon

    mon = env.platform.platform.monitoring
    # The runner's exporter + alert webhook first, so Prometheus' first scrape finds it.
    found = [monitor_daemon(env.state, env.root, mon.exporter.port, env.environment)]
    for make, port in ((daemons.prometheus_daemon, mon.prometheus.port),
                       (daemons.alertmanager_daemon, mon.alertmanager.port)):
        try:
            found.append(make(env.state, port))
        except NotInstalled:
            continue
    return found


def daemon_rows(env: Env) -> list[dict[str, object]]:
    """One row per platform component, checked in parallel (each check at most 2 s)."""
    found = [mlflow_daemon(env), *monitoring_daemons(env)]
    with ThreadPoolExecutor(max_workers=len(found)) as pool:
        statuses = list(pool.map(lambda d: daemons.status(env.state, d), found))
    rows = []
    for d, st in zip(found, statuses, strict=True):
        state = "healthy" if st.healthy else ("starting" if st.running else "stopped")
        rows.append({"name": d.name, "port": d.port, "state": state, "pid": st.pid})
    return rows


def status_rows(env: Env) -> list[dict[str, object]]:
    """One row per service: desired vs running, revision, health, pids."""
    facts = env.runtime.facts(None)
    current = env.store.current_all()
    rows: list[dict[str, object]] = []
    for name in sorted(set(env.platform.services) | set(facts)):
        svc = env.platform.services.get(name)
        live = [f for f in facts.get(name, []) if f.running]
        rev = current.get(name)
        parked = [f for f in env.runtime.standby(name) if f.running]
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
            "standby_versions": sorted({f.model_version for f in parked}),
            "standby": [{"replica": f.replica, "pid": f.pid, "model_version": f.model_version,
                         "parked_at": f.parked_at} for f in parked],
        })
    return rows


def last_synced(env: Env) -> dict[str, object]:
    """The last commit the platform synced from git: the pull loop's record, else (no loop
    ran) the checkout's HEAD, which is what the specs were read from."""
    from runner.errors import ToolkitError
    from runner.operations.specedit import git
    from runner.state.sync_log import latest

    synced = latest(env.store, env.environment)  # recorded by inv reconcile --watch --git
    if synced.synced_commit:
        try:
            subject = git(env.root, "log", "-1", "--format=%s", synced.synced_commit)
        except (ToolkitError, OSError):
            subject = ""
        return {"last_synced_commit": synced.synced_commit, "last_synced_at": synced.at,
                "last_synced_subject": subject, "last_synced_source": "git pull loop",
                "refused_commit": synced.refused_commit}
    try:
        sha, at, subject = git(env.root, "log", "-1", "--format=%H%x1f%ct%x1f%s").split("\x1f", 2)
        return {"last_synced_commit": sha, "last_synced_at": float(at),
                "last_synced_subject": subject, "last_synced_source": "HEAD"}
    except (ToolkitError, OSError, ValueError):
        return {"last_synced_commit": "", "last_synced_at": None, "last_synced_subject": "",
                "last_synced_source": "none (not a git checkout)"}


def status_data(env: Env) -> dict[str, object]:
    """What ``inv status --json`` prints (and the status page shows)."""
    return {"services": status_rows(env), "platform": daemon_rows(env), **last_synced(env)}


SYMBOL = {"create": "+", "replace": "~", "restart": "↻", "remove": "-", "noop": "="}


def service_plan(env: Env) -> dict[str, object]:
    """The services' part of ``inv plan``, for the status page.

    The monitor and ``runner.reconcile`` are independent siblings (import-linter), so this
    is not ``make_plan``: it asks the same pure decision (``plan_service``) per service with
    the same registry check; the monitoring component's row is ``inv plan``'s alone."""
    from runner.operations.decide import Action, plan_service
    from runner.operations.desired import replica_spec
    from runner.operations.registry_facts import existing_versions

    facts = env.runtime.facts(None)
    current = env.store.current_all()
    actions: list[Action] = []
    for name in sorted(env.platform.services):
        spec = replica_spec(env.platform, name, tracking_uri=env.tracking_uri)
        action = plan_service(spec, env.platform.service(name).replicas, facts.get(name, []),
                              current.get(name))
        if action.kind in ("create", "replace") and not existing_versions(
                env.tracking_uri, {(spec.model_name, spec.model_version)}):
            from dataclasses import replace

            action = replace(action, problem=f"model {spec.model_name} version "
                                             f"{spec.model_version} is not in the registry")
        actions.append(action)
    for gone in sorted(set(facts) - set(env.platform.services)):
        if facts[gone]:
            actions.append(Action(gone, "remove", "not in specs: prune "
                                  f"{sum(1 for f in facts[gone] if f.running)} running replica(s)"))
    rows = [{**a.as_dict(), "symbol": SYMBOL[a.kind]} for a in actions]
    changes = sum(1 for a in actions if a.changes)
    return {"environment": env.environment, "in_sync": not changes, "changes": changes,
            "actions": rows}
