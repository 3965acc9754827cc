"""Reconcile benchmarks: no-op `inv plan` for 3 and 100 services; rollback time; failed
requests during a replace under 100 req/s with and without kernel request migration.

    .venv/bin/python bench/reconcile.py [--skip-live]

The plan bench needs no models: each service's replica record points at one small
stand-in process answering /health on 100 admin ports (the plan reads records, the
process table and /health; what answers does not change its cost). The live benches
start real replicas (MLflow sqlite registry, uvicorn via runner.serving.launch).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests" / "integration"))

STUB = r"""
import asyncio, sys
async def handle(reader, writer):
    await reader.readuntil(b"\r\n\r\n")
    body = b'{"status": "healthy"}'
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
                 + str(len(body)).encode() + b"\r\nConnection: close\r\n\r\n" + body)
    await writer.drain(); writer.close()
async def main(n):
    servers = [await asyncio.start_server(handle, "127.0.0.1", 0) for _ in range(n)]
    print(" ".join(str(s.sockets[0].getsockname()[1]) for s in servers), flush=True)
    await asyncio.gather(*(s.serve_forever() for s in servers))
asyncio.run(main(int(sys.argv[1])))
"""


def make_plan_repo(tmp: Path, n: int) -> Path:
    """The real specs plus services svc-003.. up to ``n`` services in total."""
    root = tmp / f"repo{n}"
    for part in ("specs", "playbooks"):
        shutil.copytree(REPO / part, root / part)
    (root / "projects").mkdir()
    for p in ("bankchurn", "carvision", "telecom"):
        shutil.copytree(REPO / "projects" / p, root / "projects" / p,
                        ignore=shutil.ignore_patterns("data", "models", "__pycache__"))
    base = (root / "specs" / "services" / "bankchurn.yaml").read_text()
    for i in range(3, n):
        name = f"svc-{i:03d}"
        text = re.sub(r"(?m)^name: .*", f"name: {name}", base)
        text = re.sub(r"(?m)^port: .*", f"port: {21000 + i}", text)
        (root / "specs" / "services" / f"{name}.yaml").write_text(text)
    return root


def seed_noop_state(root: Path, state: Path) -> subprocess.Popen[str]:
    """Records + revisions saying every service runs its spec, and one process answering."""
    from runner.operations.desired import spec_hash
    from runner.runtime.process import start_time
    from runner.spec import load_platform
    from runner.state import StateStore

    platform = load_platform(root)
    names = sorted(platform.services)
    stub = subprocess.Popen([sys.executable, "-c", STUB, str(len(names))],
                            stdout=subprocess.PIPE, text=True)
    assert stub.stdout is not None
    ports = [int(p) for p in stub.stdout.readline().split()]
    store = StateStore(state)
    for name, port in zip(names, ports, strict=True):
        svc = platform.service(name)
        h = spec_hash(svc)
        folder = state / "run" / "services" / name
        folder.mkdir(parents=True, exist_ok=True)
        rec = {"service": name, "replica": f"{name}-r1", "pid": stub.pid,
               "start": start_time(stub.pid), "port": svc.port, "admin_port": port,
               "spec_hash": h, "model_name": svc.model.name,
               "model_version": svc.model.version, "started_at": time.time(),
               "health_path": "/health"}
        (folder / f"{name}-r1.json").write_text(json.dumps(rec))
        store.add_revision(name, spec_hash=h, model_name=svc.model.name,
                           model_version=svc.model.version, actor="bench", reason="seed",
                           outcome="success")
    return stub


def time_plan_cli(root: Path, state: Path, runs: int = 5) -> tuple[float, float, float, int]:
    """`inv plan` as a user runs it (process start included): wall best, wall median, and
    median CPU time (user + sys: the steadier number on a shared machine), exit code."""
    import resource

    env = {**os.environ, "MLGITOPS_ROOT": str(root), "MLGITOPS_STATE_DIR": str(state)}
    inv = str(Path(sys.executable).with_name("invoke"))
    times, cpu, code = [], [], -1
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t = time.perf_counter()
        proc = subprocess.run([inv, "-r", str(REPO), "plan"], env=env, capture_output=True,
                              text=True, check=False)
        times.append(time.perf_counter() - t)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
        code = proc.returncode
    times.sort()
    cpu.sort()
    return times[0], times[len(times) // 2], cpu[len(cpu) // 2], code


def bench_plan(tmp: Path) -> list[tuple[str, str]]:
    rows = []
    for n in (3, 100):
        root = make_plan_repo(tmp, n)
        state = tmp / f"state{n}"
        stub = seed_noop_state(root, state)
        try:
            best, median, cpu, code = time_plan_cli(root, state)
            from runner.operations.workspace import open_env
            from runner.reconcile.plan import make_plan

            os.environ.update(MLGITOPS_ROOT=str(root), MLGITOPS_STATE_DIR=str(state))
            t = time.perf_counter()
            env = open_env(root, quiet=True)
            make_plan(env.platform, env.runtime, env.store, tracking_uri=env.tracking_uri)
            inproc = time.perf_counter() - t
        finally:
            stub.kill()
            stub.wait()
        rows.append((f"no-op `inv plan`, {n} services (exit {code})",
                     f"wall {median:.2f} s median, {best:.2f} s best; CPU {cpu:.2f} s; "
                     f"in-process plan {inproc:.3f} s"))
    return rows


def bench_live(tmp: Path, migrate_runs: bool = True) -> list[tuple[str, str]]:
    from reconcile_fixtures import (
        Load,
        free_port,
        make_repo,
        model_version,
        register_models,
        sample_body,
        set_version,
    )

    from runner.commands.converge import reconcile_command as reconcile_loud
    from runner.operations.workspace import open_env
    from runner.runtime import local

    def reconcile_command(**kwargs: object) -> int:
        with contextlib.redirect_stdout(io.StringIO()):  # the table is the bench's output
            return reconcile_loud(**kwargs)  # type: ignore[arg-type]

    port = free_port()
    root = make_repo(tmp / "live", port=port, watch_s=0)
    state = tmp / "live" / "state"
    uri = register_models(state)
    os.environ.update(MLGITOPS_ROOT=str(root), MLGITOPS_STATE_DIR=str(state),
                      MLFLOW_TRACKING_URI=uri)
    rows = []
    try:
        reconcile_command(as_json=True)
        migrate = local.MIGRATE_REQ
        original = migrate.read_text().strip() if migrate.exists() else None
        for setting in ("0", "1"):
            if original is None or not migrate_runs:
                break
            migrate.write_text(setting + "\n")
            local_enable = local.enable_request_migration
            if setting == "0":  # measure the kernel default: keep the runtime from fixing it
                local.enable_request_migration = lambda: False
            failed = sent = 0
            for version in (2, 1, 2, 1):
                set_version(root, version)
                with Load(port, sample_body()) as load:
                    time.sleep(0.5)
                    reconcile_command(as_json=True)
                    time.sleep(0.5)
                failed += load.failed
                sent += load.sent
            local.enable_request_migration = local_enable
            rows.append((f"failed requests, 4 replaces at 100 req/s, tcp_migrate_req={setting}",
                         f"{failed} of {sent}"))
        if original is not None:
            migrate.write_text(original + "\n")
        # Rollback: serving v1 now; deploy v2 (v1 is parked as warm standby), then time
        # `inv rollback` until v1 answers (unparked: no imports, no model load).
        set_version(root, 2)
        reconcile_command(as_json=True)
        env = {**os.environ}
        inv = str(Path(sys.executable).with_name("invoke"))
        t = time.perf_counter()
        proc = subprocess.Popen([inv, "-r", str(REPO), "rollback", "--service", "bankchurn",
                                 "--reason", "bench"], env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        first = None
        while first is None and time.perf_counter() - t < 600:
            if model_version(port) == "1":
                first = time.perf_counter() - t
            time.sleep(0.02)
        proc.wait()
        done = time.perf_counter() - t
        rows.append(("rollback: command to old version answering",
                     f"{first:.2f} s" if first else "not within 600 s"))
        rows.append(("rollback: command to completion (replaced replica parked)",
                     f"{done:.2f} s"))
    finally:
        open_env(root, quiet=True).runtime.remove("bankchurn")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--skip-live", action="store_true", help="only the plan benchmark")
    parser.add_argument("--skip-migrate", action="store_true",
                        help="skip the replace-under-load runs (8 replica starts)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-reconcile-") as tmp:
        rows = bench_plan(Path(tmp))
        if not args.skip_live:
            rows += bench_live(Path(tmp), migrate_runs=not args.skip_migrate)
    width = max(len(r[0]) for r in rows)
    print(f"{'measure':<{width}}  result")
    print(f"{'-' * width}  {'-' * 40}")
    for name, value in rows:
        print(f"{name:<{width}}  {value}")


if __name__ == "__main__":
    main()
