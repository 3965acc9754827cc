"""Rolling replaces under keep-alive load (issue 13 item 14): 0 failed requests.

Clients that keep their connections open are what a replica that closes a connection
under an in-flight or just-sent request fails (fresh connection per request hides it).
Eight httpx keep-alive clients send ~100 requests/s in total while the real local runtime
replaces bankchurn (start v2, park v1), rolls it back (unpark v1, park v2), and while a
third replica on the same port is stopped with SIGTERM. The load average is printed: the
figure that matters is measured on a loaded machine (4 and above).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest
from reconcile_fixtures import (
    REPO,
    Load,
    free_port,
    make_repo,
    model_version,
    register_models,
    sample_body,
    set_version,
)

from runner.commands.converge import reconcile_command, rollback_command
from runner.operations.workspace import open_env

pytestmark = [pytest.mark.integration, pytest.mark.slow]

RATE = 100.0
CLIENTS = 8


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    tmp = tmp_path_factory.mktemp("keepalive")
    port = free_port()
    root = make_repo(tmp, port=port)
    state = tmp / "state"
    uri = register_models(state)
    keys = ("MLGITOPS_ROOT", "MLGITOPS_STATE_DIR", "MLFLOW_TRACKING_URI")
    saved = {k: os.environ.get(k) for k in keys}
    os.environ.update(MLGITOPS_ROOT=str(root), MLGITOPS_STATE_DIR=str(state),
                      MLFLOW_TRACKING_URI=uri)
    try:
        assert reconcile_command() == 0
        yield {"root": root, "state": state, "port": port, "uri": uri, "tmp": tmp}
    finally:
        open_env(root, quiet=True).runtime.remove("bankchurn")
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def keepalive_load(port: int) -> Load:
    return Load(port, sample_body(), rate=RATE, clients=CLIENTS, keepalive=True)


def report(what: str, load: Load) -> None:
    print(f"\n{what}: {load.sent} requests, {load.failed} failed, "
          f"load average {os.getloadavg()[0]:.1f}")


def test_replace_under_keepalive_load(platform: dict) -> None:
    assert model_version(platform["port"]) == "1"
    set_version(platform["root"], 2)
    with keepalive_load(platform["port"]) as load:
        time.sleep(1)
        assert reconcile_command() == 0
        time.sleep(1.5)
    report("replace v1 -> v2 (park v1)", load)
    assert load.sent > 150 and load.failed == 0, load.errors[:5]
    assert model_version(platform["port"]) == "2"


def test_rollback_under_keepalive_load(platform: dict) -> None:
    with keepalive_load(platform["port"]) as load:
        time.sleep(1)
        assert rollback_command("bankchurn", reason="keep-alive drill") == 0
        time.sleep(1.5)
    report("rollback v2 -> v1 (unpark v1, park v2)", load)
    assert load.sent > 150 and load.failed == 0, load.errors[:5]
    assert model_version(platform["port"]) == "1"


def test_sigterm_of_a_replica_under_keepalive_load(platform: dict) -> None:
    """A second replica on the public port takes part of the connections, then SIGTERM."""
    admin = free_port()
    env = {**os.environ, "MLGITOPS_SERVICE": "bankchurn",
           "MLGITOPS_PROJECT_DIR": str(platform["root"] / "projects" / "bankchurn"),
           "MODEL_NAME": "bankchurn-model", "MODEL_VERSION": "1",
           "MLFLOW_TRACKING_URI": platform["uri"], "PORT": str(platform["port"]),
           "ADMIN_PORT": str(admin), "MLGITOPS_STATE_DIR": str(platform["tmp"] / "extra"),
           "PYTHONPATH": str(REPO)}
    log = platform["tmp"] / "extra.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "runner.serving.launch"], env=env,
                                cwd=REPO, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            assert proc.poll() is None, log.read_text()[-2000:]
            try:
                if httpx.get(f"http://127.0.0.1:{admin}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        with keepalive_load(platform["port"]) as load:
            time.sleep(2)
            served = httpx.get(f"http://127.0.0.1:{admin}/metrics").text
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=20)  # uvicorn re-raises SIGTERM after its shutdown: -15
            time.sleep(1)
        report("SIGTERM of one of two replicas", load)
        assert 'endpoint="/predict"' in served  # it did take part of the load
        assert load.sent > 200 and load.failed == 0, load.errors[:5]
        text = log.read_text()
        assert "Finished server process" in text  # a graceful exit, not a kill
        assert "drain bound reached" not in text  # every connection was told
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
