"""The Swarm runtime end to end on a single-node swarm (advertised on 127.0.0.1, host
network only): the stack deployed from the rendered compose file turns healthy, an update
to an image whose health check fails is rolled back by the swarm itself, a model version
change under keep-alive load (start-first: two tasks share the public port through
SO_REUSEPORT), ``inv rollback`` restores the previous version, and plan is clean after
each. ``inv up`` then ``inv verify`` pass with the task checked in its container
(``docker://<container id>``), and fail naming the checks when the swarm service is scaled
to 0 behind the toolkit's back. The same rendered file also runs under Debian's
docker-compose 1.29.

One service (bankchurn: the shared fixtures register its models) with short health
timings, so the module stays within a few minutes; the start period stays the default
(150 s: a model load inside a CPU limit on a loaded machine can take 30 s and more), except
for the broken image, which runs last.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import subprocess
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
from runner.operations import open_env

pytestmark = [pytest.mark.integration, pytest.mark.slow]
SERVICE = "bankchurn"
INV = str(REPO / ".venv" / "bin" / "inv")
DAEMONS = ("monitor", "alertmanager", "prometheus", "mlflow")


@pytest.fixture(scope="module")
def engine() -> Iterator[object]:
    proc = subprocess.run(["bash", str(REPO / "scripts" / "dockerd.sh")], capture_output=True,
                          text=True, check=False)
    if proc.returncode != 0:
        pytest.fail(f"no Docker engine: {(proc.stderr or proc.stdout).strip()}")
    from runner.images.base_image import ensure_base
    from runner.images.docker_client import client
    from runner.runtime.swarm_stack import ensure_swarm

    ensure_base(progress=print)
    ensure_swarm(progress=print)
    yield client()


def _swarm_repo(tmp: Path, port: int) -> Path:
    """make_repo's bankchurn on ``runtime: swarm`` with short health timings, rendered and
    committed (the image copies runner/)."""
    root = make_repo(tmp, port=port)
    free_platform_ports(root)  # `inv up` starts MLflow and monitoring beside other tests
    shutil.copytree(REPO / "runner", root / "runner",
                    ignore=shutil.ignore_patterns("__pycache__"))
    platform = root / "specs" / "platform.yaml"
    platform.write_text(re.sub(r"(?m)^runtime: local", "runtime: swarm", platform.read_text()))
    spec = root / "specs" / "services" / f"{SERVICE}.yaml"
    spec.write_text(re.sub(r"(?m)^health: .*$",
                           "health: {path: /health, timeout_s: 2, retries: 20, interval_s: 0.5}",
                           spec.read_text()))
    render(root)
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", "swarm runtime")
    return root


def render(root: Path) -> None:
    from runner.render import render_all, write
    from runner.spec import load_platform

    write(root, "dev", render_all(load_platform(root, "dev")))


@pytest.fixture(scope="module")
def platform(engine: object, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    tmp = tmp_path_factory.mktemp("swarm")
    port = free_port()
    root = _swarm_repo(tmp, port)
    state = tmp / "state"
    uri = register_models(state)
    scope = f"test-{secrets.token_hex(4)}"
    names = ("MLGITOPS_ROOT", "MLGITOPS_STATE_DIR", "MLFLOW_TRACKING_URI",
             "MLGITOPS_DOCKER_SCOPE")
    saved = {k: os.environ.get(k) for k in names}
    os.environ.update(MLGITOPS_ROOT=str(root), MLGITOPS_STATE_DIR=str(state),
                      MLFLOW_TRACKING_URI=uri, MLGITOPS_DOCKER_SCOPE=scope)
    try:
        yield {"root": root, "state": state, "port": port, "scope": scope,
               "stack": f"mlgitops-{scope}"}
    finally:
        try:
            open_env(root, quiet=True).runtime.remove(SERVICE)
        finally:
            _stop_daemons(state)  # what `inv up` started, should a test stop half way
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v


def _stop_daemons(state: Path) -> None:
    from runner.runtime import daemons

    for name in DAEMONS:
        daemons.stop(state, name)


def _service(engine: object, p: dict) -> dict:
    (svc,) = engine.api.services(filters={"name": f"{p['stack']}_{SERVICE}"})  # type: ignore[attr-defined]
    return svc


def _facts(p: dict) -> list:
    return open_env(p["root"], quiet=True).runtime.facts([SERVICE])[SERVICE]


def test_stack_from_the_rendered_file_is_healthy_and_plan_clean(platform, engine, capsys):
    started = time.monotonic()
    assert reconcile_command() == 0
    took = time.monotonic() - started
    assert model_version(platform["port"]) == "1"
    assert plan_command() == 0
    assert f"{SERVICE} is at revision 1, healthy" in capsys.readouterr().out
    spec = _service(engine, platform)["Spec"]
    update = spec["UpdateConfig"]
    assert (update["Order"], update["FailureAction"]) == ("start-first", "rollback")
    assert spec["TaskTemplate"]["Resources"]["Limits"]["MemoryBytes"] == 512 * 2**20
    (fact,) = _facts(platform)
    assert (fact.model_version, fact.running, fact.healthy) == (1, True, True)
    # The task's container is on the host network (no overlay, no private-range address).
    container = engine.api.inspect_container(fact.log)  # type: ignore[attr-defined]
    assert list(container["NetworkSettings"]["Networks"]) == ["host"]
    print(f"first reconcile (image build included): {took:.1f}s")


def inv(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """The real command line against the module's platform (the fixture's environment:
    root, state dir, registry, Docker scope); tasks.py is the toolkit's."""
    return subprocess.run([INV, *args], cwd=REPO, env=dict(os.environ), capture_output=True,
                          text=True, timeout=timeout, check=False)


def test_inv_verify_passes_with_the_task_checked_in_its_container(platform):
    up = inv("up", timeout=600)  # MLflow and monitoring too (a no-op for the stack)
    assert up.returncode == 0, up.stdout[-2000:] + up.stderr[-2000:]
    started = time.monotonic()
    proc = inv("verify", timeout=300)
    took = time.monotonic() - started
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert " 0 failed" in proc.stdout
    (fact,) = _facts(platform)
    # The task's checks ran through testinfra's docker backend, in the task's container.
    assert f"checked on docker://{fact.log}: {SERVICE}/{fact.replica}\n" in proc.stdout + "\n"
    assert re.search(rf"(?m)^packages_lock +{SERVICE}/{re.escape(fact.replica)} +ok",
                     proc.stdout)
    assert re.search(rf"(?m)^prometheus_target +{SERVICE}/{re.escape(fact.replica)} +ok",
                     proc.stdout)
    # Prometheus scrapes the task on its own admin port, not the shared public one.
    listed = json.loads((platform["state"] / "prometheus" / "config" / "targets" /
                         f"{SERVICE}.json").read_text())
    assert [g["labels"]["replica"] for g in listed] == [fact.replica]
    assert listed[0]["targets"] != [f"127.0.0.1:{platform['port']}"]
    # inv verify probed the task there too, not through the port every task shares.
    from runner.verify.targets import gather

    env = open_env(platform["root"], quiet=True)
    try:
        (target,) = gather(env).replicas
    finally:
        env.store.close()
    assert listed[0]["targets"] == [f"127.0.0.1:{target.admin_port}"]
    print(f"inv verify (swarm runtime): {took:.1f}s\n{proc.stdout}")


def test_inv_verify_names_the_service_scaled_to_zero_behind_its_back(platform, engine):
    try:
        engine.services.get(_service(engine, platform)["ID"]).scale(0)  # type: ignore[attr-defined]
        deadline = time.monotonic() + 60
        while _facts(platform) and time.monotonic() < deadline:
            time.sleep(0.5)
        proc = inv("verify", "--json", timeout=300)
        assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-2000:]
        failing = {r["check"]: r for r in json.loads(proc.stdout)["checks"]
                   if r["outcome"] == "failed"}
        assert failing["replicas"]["detail"].startswith("0/1 replicas running"), failing
        assert reconcile_command() == 0  # healed, for the scenarios that follow
        (fact,) = _facts(platform)
        assert fact.healthy and model_version(platform["port"]) == "1"
    finally:
        _stop_daemons(platform["state"])  # the scenarios below drive the runtime alone


def test_version_change_under_keepalive_load_then_inv_rollback(platform, engine, capsys):
    set_version(platform["root"], 2)
    with Load(platform["port"], sample_body(), rate=100, keepalive=True) as load:
        time.sleep(1)
        t0 = time.monotonic()
        assert reconcile_command() == 0
        deploy_s = time.monotonic() - t0
        time.sleep(1)
    # start-first: the new task binds the public port beside the old one (SO_REUSEPORT).
    print(f"v2 deploy on swarm: {deploy_s:.1f}s, {load.sent} requests, {load.failed} failed")
    assert load.sent > 100
    assert load.failed <= load.sent // 100, load.errors[:5]
    assert model_version(platform["port"]) == "2"
    assert [f.model_version for f in _facts(platform)] == [2]
    assert plan_command() == 0
    capsys.readouterr()
    assert rollback_command(SERVICE, reason="swarm drill") == 0
    assert model_version(platform["port"]) == "1"
    assert "  version: 1\n" in (platform["root"] / "specs" / "services" /
                                f"{SERVICE}.yaml").read_text()
    assert "rollback" in git(platform["root"], "log", "-1", "--format=%s")
    assert [f.model_version for f in _facts(platform)] == [1]
    assert plan_command() == 0
    assert f"{SERVICE} is at revision" in capsys.readouterr().out


def test_the_rendered_file_runs_unchanged_under_docker_compose(platform, engine, tmp_path):
    """docker-compose 1.29 up of one service from the committed generated/ file. The
    file names an MLflow server on 127.0.0.1:5000; none runs here, so an override file
    (as users keep one) points it at this test's sqlite registry and a free port."""
    compose = shutil.which("docker-compose")
    if compose is None:
        pytest.skip("docker-compose is not installed")
    root = platform["root"]
    (fact,) = _facts(platform)
    from runner.images.build import runtime_ref

    engine.images.get(runtime_ref("mlgitops/bankchurn:latest", fact.spec_hash)).tag(  # type: ignore[attr-defined]
        "mlgitops/bankchurn", "latest")
    port = free_port()
    text = (root / "generated" / "dev" / "compose.yaml").read_text()
    project = f"swarmtest{secrets.token_hex(3)}"
    # The same file, with the service's port moved off the swarm's (both on the host
    # network) and the registry URI as this test has it: an override file, as users do.
    override = tmp_path / "override.yaml"
    override.write_text(
        "version: '3.8'\nservices:\n  bankchurn:\n    environment:\n"
        f"      PORT: '{port}'\n      MLFLOW_TRACKING_URI: '{os.environ['MLFLOW_TRACKING_URI']}'\n"
        f"      MLGITOPS_PROJECT_DIR: /app/projects/bankchurn\n"
        f"    user: '{os.getuid()}:{os.getgid()}'\n"
        f"    volumes: ['{platform['state']}:{platform['state']}']\n")
    assert "network_mode: host" in text
    argv = [compose, "-p", project, "-f", str(root / "generated" / "dev" / "compose.yaml"),
            "-f", str(override)]
    env = {**os.environ, "GRAFANA_ADMIN_PASSWORD": "test-only-not-a-secret"}
    try:
        up = subprocess.run([*argv, "up", "-d", "--no-deps", "bankchurn"], env=env,
                            capture_output=True, text=True, check=False, timeout=180)
        assert up.returncode == 0, up.stderr
        deadline = time.monotonic() + 150
        while model_version(port) != "1" and time.monotonic() < deadline:
            time.sleep(0.5)
        assert model_version(port) == "1"
    finally:
        subprocess.run([*argv, "down", "--timeout", "10"], env=env, capture_output=True,
                       check=False, timeout=120)


def test_an_image_failing_its_health_check_is_rolled_back_by_the_swarm(platform, engine, capsys):
    root = platform["root"]
    (good,) = _facts(platform)
    spec_file = root / "specs" / "services" / f"{SERVICE}.yaml"
    text = re.sub(r"(?m)^image: .*$", "image: mlgitops/bankchurn-broken:latest",
                  spec_file.read_text())
    # A short start period: the swarm counts failed checks after 5 s, not the default 150 s.
    text = re.sub(r"(?m)^health: \{(.*)\}$", r"health: {\1, start_period_s: 5}", text)
    assert "start_period_s: 5" in text
    spec_file.write_text(text)
    git(root, "commit", "-q", "-am", "bankchurn: broken image")
    _build_broken_image(engine, platform)
    capsys.readouterr()
    with Load(platform["port"], sample_body(), rate=50, keepalive=True) as load:
        assert reconcile_command() == 1
    assert load.failed == 0, load.errors[:5]
    # The failure says why the swarm gave up on the new task: its health check.
    out = capsys.readouterr()
    assert "unhealthy container" in out.out, out
    assert "update rolled back due to failure" in out.err, out  # the swarm's own rollback
    assert model_version(platform["port"]) == "1" and good.model_version == 1
    assert "automatic" in git(root, "log", "-1", "--format=%s")  # the spec pinned back
    # The GitOps rollback pins the image and model version; the health edit stays in git
    # (so the swarm then updated the good image to it: this test runs last in the module).
    assert "image: mlgitops/bankchurn:latest" in spec_file.read_text()
    assert _service(engine, platform)["UpdateStatus"]["State"] in ("completed",
                                                                     "rollback_completed")
    (now,) = _facts(platform)
    assert now.healthy and now.model_version == 1
    assert plan_command() == 0


def _build_broken_image(engine: object, p: dict) -> None:
    """An image of the service whose replica never answers: tagged as the image the
    edited spec runs, so the runtime deploys it without building."""
    import io

    from runner.images.build import runtime_ref
    from runner.operations.desired import spec_hash
    from runner.spec import load_platform

    svc = load_platform(p["root"], "dev").service(SERVICE)
    (fact,) = _facts(p)
    base = runtime_ref("mlgitops/bankchurn:latest", fact.spec_hash)
    recipe = f'FROM {base}\nCMD ["python", "-c", "import time; time.sleep(3600)"]\n'
    repo, _, tag = runtime_ref(svc.image, spec_hash(svc)).rpartition(":")
    image, _ = engine.images.build(fileobj=io.BytesIO(recipe.encode()), tag=f"{repo}:{tag}",  # type: ignore[attr-defined]
                                   network_mode="host", rm=True)
    assert image.id
