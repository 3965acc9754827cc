"""Which host reaches a replica, and how its HTTP endpoints are probed (runner.verify.backend),
for each runtime: the container runtimes were first run for real in
tests/integration/test_docker_runtime.py, which found the container name and the probes wrong."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from runner.runtime.base import ReplicaFact
from runner.spec import load_platform
from runner.spec.models import Platform
from runner.verify import backend
from runner.verify.targets import IMAGE_PYTHON, ReplicaTarget, Targets, interpreters
from runner.verify.verify_command import hosts_lines, table

ROOT = Path(__file__).resolve().parents[2]


def _platform(runtime: str, verify_host: str | None = None) -> Platform:
    base = load_platform(ROOT, "dev")
    plat = base.platform
    verify = plat.verify.model_copy(update={"host": verify_host})
    return base.model_copy(update={"platform": plat.model_copy(
        update={"runtime": runtime, "verify": verify})})


def _fact(**kw: object) -> ReplicaFact:
    values: dict[str, object] = dict(
        service="bankchurn", replica="bankchurn-v1-abcdef12-00ff", pid=0, port=8001,
        admin_port=9001, spec_hash="abcdef12", model_name="m", model_version=1,
        started_at=0.0, running=True, log="mlgitops-dev-bankchurn-v1-abcdef12-00ff")
    values.update(kw)
    return ReplicaFact(**values)  # type: ignore[arg-type]


def test_a_container_replica_is_reached_by_its_container_not_its_replica_name() -> None:
    docker = _fact()  # the docker runtime names the container mlgitops-<scope>-<replica>
    assert backend.replica_host(_platform("docker"), docker) == f"docker://{docker.log}"
    swarm = _fact(replica="bankchurn.1.x1y2z3", log="4f5e6d7c8b9a", pid=4242)  # task: id
    assert backend.replica_host(_platform("swarm"), swarm) == "docker://4f5e6d7c8b9a"
    assert backend.replica_host(_platform("local"), _fact(pid=77)) == backend.LOCAL
    ssh = _platform("docker", verify_host="ssh://ops@platform-host")
    assert backend.replica_host(ssh, docker) == "ssh://ops@platform-host"


def test_a_container_replica_is_its_container_pid_one() -> None:
    # A docker fact has no pid; a swarm task's is the host's, which means nothing inside.
    assert backend.replica_pid(_platform("docker"), _fact()) == 1
    assert backend.replica_pid(_platform("swarm"), _fact(pid=4242)) == 1
    assert backend.replica_pid(_platform("local"), _fact(pid=77)) == 77


def test_a_swarm_task_is_probed_on_its_own_admin_port(monkeypatch) -> None:
    # The fact's admin port is the public one, shared by every task of the service.
    from runner.runtime import swarm_targets

    read: list[str] = []
    ports = {"4f5e6d7c8b9a": 41234}
    monkeypatch.setattr(swarm_targets, "admin_port", lambda c: read.append(c) or ports.get(c))
    task = _fact(replica="bankchurn.1.x1y2z3", log="4f5e6d7c8b9a", admin_port=8001)
    assert backend.replica_admin_port(_platform("swarm"), task) == 41234
    assert read == ["4f5e6d7c8b9a"]
    # Not written yet: the public port, as the facts have it.
    assert backend.replica_admin_port(_platform("swarm"), _fact(log="other", admin_port=8001)) \
        == 8001
    # A stopped task is not entered; docker and local facts carry the real admin port.
    assert backend.replica_admin_port(_platform("swarm"), _fact(running=False)) == 9001
    assert backend.replica_admin_port(_platform("docker"), _fact()) == 9001
    assert backend.replica_admin_port(_platform("local"), _fact()) == 9001
    assert read == ["4f5e6d7c8b9a", "other"]


@pytest.fixture
def answering() -> Iterator[int]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
            body = b'{"model_version": 1}'
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            return

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()


def test_a_container_on_the_host_network_is_probed_directly(answering: int) -> None:
    """No `docker exec ... curl` (the image has no curl): the container's 127.0.0.1 is ours.
    The container named here does not exist: a probe that entered it would fail."""
    import testinfra

    host = testinfra.get_host("docker://no-such-container-of-ours")
    url = f"http://127.0.0.1:{answering}/model_info"
    assert backend.http_get(host, url) == (200, {"model_version": 1})
    assert backend.http_get(backend.LOCAL, url) == (200, {"model_version": 1})


def test_process_owner_on_this_machine() -> None:
    import getpass
    import os

    import testinfra

    owner = backend.process_owner(testinfra.get_host(backend.LOCAL), os.getpid())
    assert owner == getpass.getuser()


def _targets(runtime: str, replicas: list[ReplicaTarget]) -> Targets:
    return Targets(root="/r", environment="dev", runtime=runtime, state="/s",
                   tracking_uri="sqlite:///x", host=backend.LOCAL, user="root",
                   non_root=False, listen="127.0.0.1", lock_file="/lock", python="/venv/python",
                   prometheus_url="http://127.0.0.1:9090", scrape_interval_s=2,
                   generated_rules="/g", staged_rules="/st", replicas=replicas)


def test_packages_are_checked_in_each_running_replica_image_for_containers() -> None:
    up = ReplicaTarget("bankchurn", "r1", 1, True, 8001, 9001, 1, "docker://c1")
    down = ReplicaTarget("bankchurn", "r2", 1, False, 8001, 9002, 1, "docker://c2")
    (one,) = interpreters(_targets("docker", [up, down]))
    assert (one.name, one.host, one.python) == ("bankchurn/r1", "docker://c1", IMAGE_PYTHON)
    (local,) = interpreters(_targets("local", []))
    assert (local.name, local.host, local.python) == ("platform", backend.LOCAL, "/venv/python")


def test_the_table_says_which_host_checked_what() -> None:
    rows = [
        {"check": "health", "target": "bankchurn/r1", "host": "docker://c1",
         "outcome": "passed", "detail": ""},
        {"check": "process_user", "target": "bankchurn/r1", "host": "docker://c1",
         "outcome": "failed", "detail": "process not running"},
        {"check": "state_private", "target": "platform", "host": backend.LOCAL,
         "outcome": "passed", "detail": ""},
    ]
    assert hosts_lines(rows) == ["checked on docker://c1: bankchurn/r1",
                                 "checked on local://: platform"]
    text = table(rows)
    assert "2 passed, 1 failed, 0 skipped" in text
    assert text.endswith("FAILED process_user bankchurn/r1: process not running")
