"""Container deploys side by side, one run, the same image and the same load.

    python bench/containers.py

A temporary repo (bankchurn, as the integration tests build it: real models in a sqlite
registry), one model version change (v1 -> v2) under ~100 requests/s over keep-alive
connections, done three ways:

* ``docker-compose up -d --force-recreate`` of the one service (the rendered compose file,
  an override for this run's port and registry);
* ``inv deploy`` on the Docker runtime (health-gated start-first replace, drain);
* ``inv deploy`` on the Swarm runtime (``docker stack deploy``, start-first update);

and for each: failed requests, the longest gap without a successful response, the
command's wall time. Plus the Docker runtime's rollback to serving (v1 answering again)
under the same load. Needs a Docker engine (scripts/dockerd.sh); the swarm is made when
missing. Prints CPU time and the load average beside wall times: the machine is shared.
"""

from __future__ import annotations

import os
import re
import resource
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "integration"))

from reconcile_fixtures import (  # noqa: E402
    Load,
    free_port,
    git,
    make_repo,
    model_version,
    register_models,
    sample_body,
    set_version,
)

RATE = 100.0
SERVICE = "bankchurn"


class GapLoad(Load):
    """The fixtures' keep-alive load, also timing every successful response."""

    def __init__(self, port: int) -> None:
        super().__init__(port, sample_body(), rate=RATE, keepalive=True)
        self.ok_at: list[float] = []

    def _kept(self, client):  # type: ignore[no-untyped-def]
        failed = self.failed
        super()._kept(client)
        if self.failed == failed:
            self.ok_at.append(time.monotonic())

    def longest_gap(self) -> float:
        times = sorted(self.ok_at)
        return max((b - a for a, b in zip(times, times[1:], strict=False)), default=0.0)


def wait_version(port: int, version: str, limit_s: float = 180) -> float:
    started = time.monotonic()
    while model_version(port) != version:
        if time.monotonic() - started > limit_s:
            raise SystemExit(f"v{version} not served on {port} after {limit_s:.0f}s")
        time.sleep(0.05)
    return time.monotonic() - started


def measured(name: str, port: int, change) -> dict:  # type: ignore[no-untyped-def]
    with GapLoad(port) as load:
        time.sleep(2)
        started = time.monotonic()
        extra = change()
        took = time.monotonic() - started
        time.sleep(2)
    return {"name": name, "sent": load.sent, "failed": load.failed,
            "gap": load.longest_gap(), "command": took, "errors": load.errors[:3], **extra}


def pin(root: Path, version: int) -> None:
    """The spec at ``version``, committed (nothing to commit when it already is)."""
    set_version(root, version, commit=False)
    if git(root, "status", "--porcelain"):
        git(root, "commit", "-q", "-am", f"bankchurn v{version}")


def set_runtime(root: Path, runtime: str) -> None:
    path = root / "specs" / "platform.yaml"
    path.write_text(re.sub(r"(?m)^runtime: \w+", f"runtime: {runtime}", path.read_text()))
    render(root)
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", f"runtime {runtime}")


def render(root: Path) -> None:
    from runner.render import render_all, write
    from runner.spec import load_platform

    write(root, "dev", render_all(load_platform(root, "dev")))


def docker_runtime(root: Path, port: int) -> list[dict]:
    from runner.commands.converge import reconcile_command, rollback_command
    from runner.operations import open_env

    set_runtime(root, "docker")
    pin(root, 1)
    assert reconcile_command() == 0
    pin(root, 2)
    rows = [measured("inv deploy (docker)", port, lambda: {"ok": reconcile_command() == 0})]

    def rollback() -> dict:
        done: list[int] = []
        thread = threading.Thread(target=lambda: done.append(
            rollback_command(SERVICE, reason="bench")))
        thread.start()
        serving = wait_version(port, "1")  # v1 answering again, from the command's start
        thread.join()
        return {"ok": done == [0], "serving": serving}

    rows.append(measured("inv rollback (docker)", port, rollback))
    open_env(root, quiet=True).runtime.remove(SERVICE)
    return rows


def swarm_runtime(root: Path, port: int) -> list[dict]:
    from runner.commands.converge import reconcile_command
    from runner.operations import open_env
    from runner.runtime.swarm_stack import ensure_swarm

    ensure_swarm()
    set_runtime(root, "swarm")
    pin(root, 1)
    assert reconcile_command() == 0
    pin(root, 2)
    rows = [measured("inv deploy (swarm)", port, lambda: {"ok": reconcile_command() == 0})]
    open_env(root, quiet=True).runtime.remove(SERVICE)
    return rows


def compose(root: Path, state: Path, port: int) -> list[dict]:
    from runner.images.build import runtime_ref
    from runner.images.docker_client import client
    from runner.operations.desired import spec_hash
    from runner.spec import load_platform

    svc = load_platform(root, "dev").service(SERVICE)
    client().images.get(runtime_ref(svc.image, spec_hash(svc))).tag("mlgitops/bankchurn",
                                                                    "latest")
    override = state / "compose-override.yaml"

    def write(version: int) -> None:
        override.write_text(
            "version: '3.8'\nservices:\n  bankchurn:\n    environment:\n"
            f"      PORT: '{port}'\n      MODEL_VERSION: '{version}'\n"
            f"      MLFLOW_TRACKING_URI: '{os.environ['MLFLOW_TRACKING_URI']}'\n"
            f"    user: '{os.getuid()}:{os.getgid()}'\n"
            f"    volumes: ['{state}:{state}']\n")

    argv = ["docker-compose", "-p", f"bench{secrets.token_hex(3)}", "-f",
            str(root / "generated" / "dev" / "compose.yaml"), "-f", str(override)]
    env = {**os.environ, "GRAFANA_ADMIN_PASSWORD": "bench-only-not-a-secret"}

    def up() -> dict:
        proc = subprocess.run([*argv, "up", "-d", "--force-recreate", "--no-deps", SERVICE],
                              env=env, capture_output=True, text=True, check=False)
        return {"ok": proc.returncode == 0}

    try:
        write(1)
        up()
        wait_version(port, "1")
        write(2)

        def change() -> dict:
            result = up()
            result["serving"] = wait_version(port, "2")
            return result

        return [measured("docker-compose up --force-recreate", port, change)]
    finally:
        subprocess.run([*argv, "down", "--timeout", "10"], env=env, capture_output=True,
                       check=False)


def main() -> int:
    load_before = os.getloadavg()
    wall = time.monotonic()
    tmp = Path(tempfile.mkdtemp(prefix="bench-containers-"))
    port = free_port()
    root = make_repo(tmp, port=port)
    shutil.copytree(REPO / "runner", root / "runner", ignore=shutil.ignore_patterns("__pycache__"))
    state = tmp / "state"
    uri = register_models(state)
    os.environ.update(MLGITOPS_ROOT=str(root), MLGITOPS_STATE_DIR=str(state),
                      MLFLOW_TRACKING_URI=uri,
                      MLGITOPS_DOCKER_SCOPE=f"bench-{secrets.token_hex(3)}")
    rows = docker_runtime(root, port)
    pin(root, 1)
    rows += compose(root, state, port)
    rows += swarm_runtime(root, port)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    print()
    print(f"{'change (v1 -> v2, ~100 req/s keep-alive)':42} {'sent':>6} {'failed':>6} "
          f"{'longest gap':>12} {'command':>9} {'serving':>8}")
    for row in rows:
        serving = f"{row['serving']:.2f}s" if "serving" in row else "-"
        print(f"{row['name']:42} {row['sent']:>6} {row['failed']:>6} {row['gap']:>11.2f}s "
              f"{row['command']:>8.1f}s {serving:>8}" + ("" if row.get("ok", True)
                                                         else "  (command failed)"))
        if row["errors"]:
            print(f"{'':42} first errors: {row['errors']}")
    print(f"\nwall {time.monotonic() - wall:.0f}s; CPU (this process) user "
          f"{usage.ru_utime:.0f}s sys {usage.ru_stime:.0f}s, children user "
          f"{kids.ru_utime:.0f}s; load average before {load_before[0]:.1f}, after "
          f"{os.getloadavg()[0]:.1f} ({os.cpu_count()} CPUs). Containers' own CPU is not "
          "counted (the engine runs them).")
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
