"""The whole platform on this machine: ``inv up``, ``inv down``, ``inv health``.

``up`` is the main job: models if missing, render, MLflow, the three services (through
reconcile, so the first deploy is an ordinary apply), monitoring when installed, then
the status table. Every step is idempotent: running ``up`` again changes nothing.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from runner.commands.port_owners import refuse_taken_ports
from runner.commands.progress import step
from runner.commands.status import (
    daemon_rows,
    mlflow_daemon,
    monitoring_daemons,
    status_rows,
    status_table,
)
from runner.errors import PermanentError, ToolkitError
from runner.operations import Env, holding_apply_lock, open_env
from runner.operations.registry_facts import existing_versions
from runner.runtime import daemons, health

if TYPE_CHECKING:
    from runner.reconcile.apply import ApplyResult
    from runner.reconcile.plan import Plan


def stage_monitoring(env: Env) -> list[str]:
    """Copy the rendered Prometheus/Alertmanager config under the state dir.

    The runtime writes the file_sd targets (``targets/<service>.json``) next to it, so
    the rendered ``prometheus.yml`` refers to them by a relative path.
    """
    staged = []
    generated = env.root / "generated" / env.environment
    for name in ("prometheus", "alertmanager"):
        src = generated / name
        if not src.is_dir():
            continue
        dst = env.state / name / "config"
        dst.mkdir(parents=True, exist_ok=True)
        for item in src.rglob("*"):
            if item.is_file() and "targets" not in item.relative_to(src).parts:
                target = dst / item.relative_to(src)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(item, target)
        staged.append(name)
    return staged


def ensure_models(env: Env, services: list[str] | None = None) -> list[str]:
    """Train and register the models the specs pin when the registry lacks them."""
    wanted = {(s.model.name, s.model.version): n for n, s in env.platform.services.items()
              if services is None or n in services}
    have = existing_versions(env.tracking_uri, set(wanted))
    missing = sorted(n for key, n in wanted.items() if key not in have)
    for name in missing:
        # What `inv train` runs: the project's DVC pipeline ends by registering the model.
        env.progress(f"{name}: model v{env.platform.service(name).model.version} is not in "
                     f"the registry: training (dvc repro)")
        bindir = Path(sys.executable).parent
        dvc_yaml = f"{env.platform.service(name).project}/dvc.yaml"
        # The stages run `python ...`: it must be this venv's interpreter.
        path = f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}"
        with step(f"training {name} (dvc repro {dvc_yaml})"):
            proc = subprocess.run(  # noqa: S603 - argv list
                [str(bindir / "dvc"), "repro", dvc_yaml], cwd=env.root,
                capture_output=True, text=True, check=False, env={**os.environ, "PATH": path},
            )
        if proc.returncode != 0:
            raise ToolkitError(f"{name}: dvc repro {dvc_yaml} failed: "
                               f"{(proc.stderr or proc.stdout).strip().splitlines()[-1:]}")
    return missing


def render(env: Env) -> int:
    """Render generated/<env>/ from the specs (what CI checks is committed)."""
    from runner.render import render_all, write

    files = render_all(env.platform)
    write(env.root, env.environment, files)
    return len(files)


def show_plan(plan: Plan) -> None:
    """The plan, printed before apply changes anything (``inv up`` and friends)."""
    print(plan.render(), flush=True)
    if plan.changes:
        print(flush=True)


def show_outcomes(result: ApplyResult) -> None:
    """What apply did, one line per planned change (the plan itself was shown before)."""
    for o in result.outcomes:
        state = "ok" if o.ok else ("ROLLED BACK" if o.rolled_back else "FAILED")
        print(f"{state:<11} {o.kind:<8} {o.service:<14} {o.msg} ({o.duration_s:.1f}s)")
    if result.outcomes:
        print("Apply: " + ("converged" if result.ok else "failed"))


def up_command(env_name: str = "dev", service: str = "") -> int:
    """Bring everything up (or only ``service``) and print the status table; idempotent."""
    from runner.reconcile import apply

    env = open_env(None, env_name)
    if service:
        return up_service(env, service)
    refuse_taken_ports(env)  # one line naming the program, before anything starts
    mlflow = mlflow_daemon(env)
    if daemons.status(env.state, mlflow).healthy:
        env.progress(f"MLflow answers on 127.0.0.1:{mlflow.port}")
    else:
        with step(f"starting MLflow on 127.0.0.1:{mlflow.port}"):
            daemons.ensure(env.state, mlflow)
    ensure_models(env)
    env.progress(f"rendered {render(env)} files into generated/{env_name}/")
    result = apply(env, watch_s=0, on_plan=show_plan)
    show_outcomes(result)
    if stage_monitoring(env):
        from runner.monitor.webhook_token import ensure_token  # Alertmanager's webhook token

        ensure_token(env.state)
        for d in monitoring_daemons(env):
            try:
                was_up = daemons.status(env.state, d).healthy
                daemons.ensure(env.state, d)
                if was_up:  # already running: load the configuration just staged (SIGHUP)
                    daemons.reload(env.state, d)
            except ToolkitError as exc:
                env.progress(f"{d.name} not started: {exc.one_line()}")
    print()
    print(status_table(status_rows(env), daemon_rows(env)))
    return 0 if result.ok else 1


def up_service(env: Env, service: str) -> int:
    """``inv up --service S``: that service's model if missing, then its deploy (the plan
    shown first). MLflow and monitoring are left as they are."""
    from runner.reconcile import apply

    known_service(env, service)
    refuse_taken_ports(env, [service])
    ensure_models(env, [service])
    result = apply(env, services=[service], watch_s=0, on_plan=show_plan)
    show_outcomes(result)
    print()
    print(status_table([r for r in status_rows(env) if r["service"] == service], []))
    return 0 if result.ok else 1


def down_service(env: Env, service: str) -> int:
    """``inv down --service S``: stop that service's replicas (serving and parked), under
    the apply lock and audited. The spec still wants it: the next reconcile starts it."""
    known_service(env, service)
    with holding_apply_lock(env):
        gone = env.runtime.remove(service, progress=env.progress)
        env.store.audit("down", actor=env.actor, service=service, outcome="ok", replicas=gone)
    for replica in gone:
        print(f"stopped {replica}")
    if not gone:
        print(f"{service}: nothing running")
    return 0


def known_service(env: Env, service: str) -> None:
    if service not in env.platform.services:
        raise PermanentError(f"{service} is not in the specs "
                             f"({', '.join(sorted(env.platform.services))})")


def down_command(env_name: str = "dev", service: str = "") -> int:
    """Stop every replica and every daemon this state directory started (or only
    ``service``'s replicas)."""
    from concurrent.futures import ThreadPoolExecutor

    env = open_env(None, env_name)
    if service:
        return down_service(env, service)
    from runner.monitor.actions import stop_running  # first: a rollback would restart replicas

    for procedure in stop_running(env.state):
        print(f"stopped {procedure}")
    # Spec'd services too: one may have only a parked standby left (not a fact).
    services = sorted(set(env.runtime.facts(None, check_health=False)) | set(env.platform.services))
    names = ("alertmanager", "prometheus", "monitor", "mlflow")
    # Each graceful stop waits for its process: stop them all at once, not one by one.
    with ThreadPoolExecutor(max_workers=8) as pool:
        replicas = pool.map(env.runtime.remove, services)
        stopped = pool.map(lambda n: daemons.stop(env.state, n), names)
        for gone in replicas:
            for replica in gone:
                print(f"stopped {replica}")
        for name, was in zip(names, stopped, strict=True):
            if was:
                print(f"stopped {name}")
    env.store.audit("down", actor=env.actor, outcome="ok")
    return 0


def endpoints(env: Env) -> list[tuple[str, int, str, bool]]:
    """The runbook's quick-reference endpoints: (name, port, path, required)."""
    mon = env.platform.platform.monitoring
    out = []
    for name, svc in sorted(env.platform.services.items()):
        out.append((name, svc.port, svc.health.path, True))
        out.append((name, svc.port, "/model_info", True))
    out.append(("mlflow", env.platform.platform.mlflow.port, "/health", True))
    out.append(("prometheus", mon.prometheus.port, "/-/healthy", False))
    out.append(("alertmanager", mon.alertmanager.port, "/-/healthy", False))
    out.append(("exporter", mon.exporter.port, "/metrics", False))
    return out


def health_command(env_name: str = "dev", as_json: bool = False,
                   root: Path | None = None) -> int:
    """Check every endpoint; exit 1 when a required one (services, MLflow) fails."""
    env = open_env(root, env_name, quiet=True)
    rows = []
    for name, port, path, required in endpoints(env):
        status, _ = health.request(port, path, timeout_s=3.0)
        rows.append({"component": name, "url": f"http://127.0.0.1:{port}{path}",
                     "status": status, "ok": status == 200, "required": required})
    bad = [r for r in rows if r["required"] and not r["ok"]]
    if as_json:
        print(json.dumps({"ok": not bad, "endpoints": rows}, indent=2))
    else:
        for r in rows:
            mark = "ok  " if r["ok"] else ("FAIL" if r["required"] else "down")
            print(f"{mark} {r['component']:<13} {r['url']:<40} {r['status'] or '-'}")
        print("healthy" if not bad else f"{len(bad)} required endpoint(s) failing")
    return 1 if bad else 0
