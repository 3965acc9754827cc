"""The Docker runtime end to end: a real dockerd (host networking only, no bridge), real
images built from the rendered Dockerfile, the real MLflow sqlite registry bind-mounted,
the same commands as the local runtime (plan, reconcile, rollback, down).

One module-scoped platform (bankchurn on a free port, ``runtime: docker``; every platform
port a free one, for ``inv up`` and ``inv verify``), driven through the scenarios in
order: a container takes seconds to load its model, so it is not restarted per test. The
engine and the base image are shared by the session and cached between runs on the
machine (``scripts/dockerd.sh``, the recipe-hash label).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from reconcile_fixtures import (
    REPO,
    Load,
    free_platform_ports,
    free_port,
    git,
    make_repo,
    model_version,
    register_models,
    sample_body,
    set_version,
)

from runner.commands.converge import plan_command, reconcile_command, rollback_command
from runner.commands.platform_up import down_command
from runner.operations import open_env

pytestmark = [pytest.mark.integration, pytest.mark.slow]
SCOPE_LABEL = "org.mlgitops.scope"
INV = str(REPO / ".venv" / "bin" / "inv")
DAEMONS = ("monitor", "alertmanager", "prometheus", "mlflow")


@pytest.fixture(scope="session")
def engine() -> Iterator[object]:
    """A Docker engine answering (started by scripts/dockerd.sh) and the local base image."""
    proc = subprocess.run(["bash", str(REPO / "scripts" / "dockerd.sh")], capture_output=True,
                          text=True, check=False)
    if proc.returncode != 0:
        pytest.fail(f"no Docker engine: {(proc.stderr or proc.stdout).strip()}")
    from runner.images.base_image import ensure_base
    from runner.images.docker_client import client

    ensure_base(progress=print)
    yield client()


def _docker_repo(tmp: Path, port: int) -> Path:
    """make_repo's bankchurn repo on the Docker runtime, with the toolkit (the image copies
    runner/) and the rendered Dockerfile, committed: what a clean clone holds."""
    root = make_repo(tmp, port=port)
    free_platform_ports(root)  # `inv up` starts MLflow and monitoring beside other tests
    shutil.copytree(REPO / "runner", root / "runner",
                    ignore=shutil.ignore_patterns("__pycache__"))
    platform = root / "specs" / "platform.yaml"
    platform.write_text(re.sub(r"(?m)^runtime: local", "runtime: docker", platform.read_text()))
    from runner.render import render_all, write
    from runner.spec import load_platform

    write(root, "dev", render_all(load_platform(root, "dev")))
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", "docker runtime")
    return root


@pytest.fixture(scope="module")
def platform(engine: object, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    tmp = tmp_path_factory.mktemp("docker")
    port = free_port()
    root = _docker_repo(tmp, port)
    state = tmp / "state"
    uri = register_models(state)
    scope = f"test-{secrets.token_hex(4)}"
    names = ("MLGITOPS_ROOT", "MLGITOPS_STATE_DIR", "MLFLOW_TRACKING_URI",
             "MLGITOPS_DOCKER_SCOPE")
    saved = {k: os.environ.get(k) for k in names}
    os.environ.update(MLGITOPS_ROOT=str(root), MLGITOPS_STATE_DIR=str(state),
                      MLFLOW_TRACKING_URI=uri, MLGITOPS_DOCKER_SCOPE=scope)
    try:
        yield {"root": root, "state": state, "port": port, "uri": uri, "scope": scope}
    finally:
        try:
            down_command()  # the replicas, and the daemons `inv up` started
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v


def _ours(engine: object, scope: str) -> list[dict]:
    return engine.api.containers(all=True, filters={"label": f"{SCOPE_LABEL}={scope}"})  # type: ignore[attr-defined]


def _facts(p: dict) -> list:
    return open_env(p["root"], quiet=True).runtime.facts(["bankchurn"])["bankchurn"]


def test_first_reconcile_builds_the_image_and_plan_is_clean(platform, engine, capsys):
    started = time.monotonic()
    assert reconcile_command() == 0
    took = time.monotonic() - started
    assert model_version(platform["port"]) == "1"
    assert plan_command() == 0
    assert "bankchurn is at revision 1, healthy" in capsys.readouterr().out
    (row,) = _ours(engine, platform["scope"])
    labels = row["Labels"]
    assert (labels["org.mlgitops.service"], labels["org.mlgitops.model-version"]) == (
        "bankchurn", "1")
    assert row["HostConfig"]["NetworkMode"] == "host"
    image = engine.images.get(row["Image"])  # type: ignore[attr-defined]
    assert image.labels["org.mlgitops.service"] == "bankchurn"
    assert image.labels["org.mlgitops.commit"] == git(platform["root"], "rev-parse",
                                                      "--short=12", "HEAD")
    # A second checkout on this host (its own root and state) reads the same facts.
    other = tmp_clone(platform)
    from runner.runtime.docker_engine import DockerRuntime

    seen = DockerRuntime(other / ".state", other).facts(["bankchurn"])["bankchurn"]
    assert [(f.replica, f.model_version, f.healthy) for f in seen] == [
        (f.replica, 1, True) for f in _facts(platform)]
    print(f"first reconcile (image build included): {took:.1f}s")


def tmp_clone(p: dict) -> Path:
    clone = p["root"].parent / "clone"
    if not clone.exists():
        subprocess.run(["git", "clone", "-q", str(p["root"]), str(clone)], check=True)
    return clone


def inv(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """The real command line, against the module's platform (the fixture's environment:
    root, state dir, registry, Docker scope); tasks.py is the toolkit's."""
    return subprocess.run([INV, *args], cwd=REPO, env=dict(os.environ), capture_output=True,
                          text=True, timeout=timeout, check=False)


def test_inv_verify_passes_with_the_replica_checked_in_its_container(platform):
    up = inv("up", timeout=600)  # MLflow and monitoring too (a no-op for the replica)
    assert up.returncode == 0, up.stdout[-2000:] + up.stderr[-2000:]
    started = time.monotonic()
    proc = inv("verify", timeout=300)
    took = time.monotonic() - started
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert " 0 failed" in proc.stdout
    (fact,) = _facts(platform)
    # The replica's checks ran through testinfra's docker backend, in its container.
    assert f"checked on docker://{fact.log}: bankchurn/{fact.replica}\n" in proc.stdout + "\n"
    assert re.search(rf"(?m)^packages_lock +bankchurn/{fact.replica} +ok", proc.stdout)
    print(f"inv verify (docker runtime): {took:.1f}s\n{proc.stdout}")


def test_inv_verify_names_the_container_killed_behind_its_back(platform, engine):
    (victim,) = _facts(platform)
    try:
        engine.api.kill(victim.log)  # type: ignore[attr-defined]  # the container's name
        proc = inv("verify", "--json", timeout=300)
        assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-2000:]
        failing = {r["check"]: r for r in json.loads(proc.stdout)["checks"]
                   if r["outcome"] == "failed"}
        assert "not running: " + victim.replica in failing["replicas"]["detail"]
        assert {"process_user", "health", "model_version"} <= set(failing), failing
        assert failing["process_user"]["detail"] == "process not running"
        assert failing["health"]["host"] == f"docker://{victim.log}"
        assert reconcile_command() == 0  # healed, for the scenarios that follow
    finally:
        # The scenarios below drive the runtime alone: no monitor acting beside them.
        from runner.runtime import daemons

        for name in DAEMONS:
            daemons.stop(platform["state"], name)


def test_version_change_under_keepalive_load_fails_no_request(platform, capsys):
    set_version(platform["root"], 2)
    assert plan_command() == 2
    assert "model version 1 -> 2" in capsys.readouterr().out
    with Load(platform["port"], sample_body(), rate=100, keepalive=True) as load:
        time.sleep(1)
        assert reconcile_command() == 0
        time.sleep(1)
    assert load.sent > 100 and load.failed == 0, load.errors[:5]
    assert model_version(platform["port"]) == "2"
    assert [f.model_version for f in _facts(platform)] == [2]
    assert plan_command() == 0


def test_rollback_under_load_serves_the_old_version_within_seconds(platform, capsys):
    root = platform["root"]
    served: list[float] = []
    with Load(platform["port"], sample_body(), rate=100, keepalive=True) as load:
        t0 = time.monotonic()
        done = threading.Thread(target=lambda: served.extend(
            [time.monotonic() - t0] if rollback_command("bankchurn", reason="docker drill")
            == 0 else []))
        done.start()
        while model_version(platform["port"]) != "1" and time.monotonic() - t0 < 120:
            time.sleep(0.02)
        first_v1 = time.monotonic() - t0
        done.join(timeout=120)
        time.sleep(0.5)
    assert served, "rollback_command failed"
    assert load.failed == 0, load.errors[:5]
    print(f"rollback: v1 served after {first_v1:.2f}s, command took {served[0]:.2f}s")
    assert first_v1 < 5.0, f"v1 served again only after {first_v1:.1f}s"  # parked container
    assert [f.model_version for f in _facts(platform)] == [1]
    assert "  version: 1\n" in (root / "specs" / "services" / "bankchurn.yaml").read_text()
    assert plan_command() == 0


def test_unhealthy_candidate_container_is_rolled_back_while_the_old_answers(platform):
    root = platform["root"]
    set_version(root, 3)  # v3 fails its self-test: the container never turns healthy
    with Load(platform["port"], sample_body(), rate=50, keepalive=True) as load:
        assert reconcile_command() == 1
    assert load.failed == 0, load.errors[:5]
    assert model_version(platform["port"]) == "1"
    assert "  version: 1\n" in (root / "specs" / "services" / "bankchurn.yaml").read_text()
    assert "automatic" in git(root, "log", "-1", "--format=%s")
    assert not [f for f in _facts(platform) if f.model_version == 3]  # candidate removed
    assert plan_command() == 0


def test_docker_kill_is_seen_by_plan_and_healed_by_reconcile(platform, engine, capsys):
    (victim,) = _facts(platform)
    engine.api.kill(victim.log)  # type: ignore[attr-defined]  # the container's name
    capsys.readouterr()
    assert plan_command() == 2
    out = capsys.readouterr().out
    assert victim.replica in out and "not running" in out
    assert reconcile_command() == 0
    (healed,) = _facts(platform)
    assert healed.replica != victim.replica and healed.healthy
    assert model_version(platform["port"]) == "1"
    assert plan_command() == 0


def test_down_leaves_no_container_network_or_volume_of_ours(platform, engine):
    assert down_command() == 0
    assert _ours(engine, platform["scope"]) == []
    for kind in (engine.api.networks, engine.api.volumes):  # type: ignore[attr-defined]
        found = kind(filters={"label": f"{SCOPE_LABEL}={platform['scope']}"})
        found = found.get("Volumes") if isinstance(found, dict) else found
        assert not found
    assert (platform["state"] / "mlflow" / "mlflow.db").is_file()  # data stays
