"""`inv up` of a small platform (bankchurn only) in a temporary repository, then `inv verify`
against it: passes, and fails naming the check after changes made behind the toolkit's
back. Then `inv preflight` and `inv deploy` with a model version the registry lacks.

One module-scoped platform (MLflow server, Prometheus, Alertmanager, the monitor, one
replica), driven through the scenarios in order; each breakage is repaired before the next.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from monitoring_stack import have_binaries
from reconcile_fixtures import (
    free_platform_ports,
    free_port,
    make_repo,
    model_version,
    register_models,
    set_version,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]
REPO = Path(__file__).resolve().parents[2]
INV = str(REPO / ".venv" / "bin" / "inv")


def inv(p: dict, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    # tasks.py is the toolkit's; MLGITOPS_ROOT points the commands at the temporary repo.
    return subprocess.run([INV, *args], cwd=REPO, env=p["env"], capture_output=True,
                          text=True, timeout=timeout, check=False)


def verify(p: dict) -> tuple[int, dict[str, list[str]]]:
    """`inv verify --json`: exit code and the failing checks with their targets."""
    proc = inv(p, "verify", "--json", timeout=180)
    assert proc.stdout, proc.stderr
    failing: dict[str, list[str]] = {}
    for row in json.loads(proc.stdout)["checks"]:
        if row["outcome"] == "failed":
            failing.setdefault(row["check"], []).append(f"{row['target']}: {row['detail']}")
    return proc.returncode, failing


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    if not have_binaries():
        pytest.skip("prometheus / alertmanager not installed (scripts/setup.sh installs them)")
    tmp = tmp_path_factory.mktemp("verify")
    port = free_port()
    root = make_repo(tmp, port=port)
    free_platform_ports(root)
    state = tmp / "state"
    uri = register_models(state)
    env = {**os.environ, "MLGITOPS_ROOT": str(root), "MLGITOPS_STATE_DIR": str(state),
           "MLFLOW_TRACKING_URI": uri}
    env.pop("MLGITOPS_WEBHOOK_URL", None)
    p = {"root": root, "state": state, "port": port, "uri": uri, "env": env}
    try:
        started = time.monotonic()
        up = inv(p, "up", timeout=600)
        assert up.returncode == 0, up.stdout[-2000:] + up.stderr[-2000:]
        p["up_s"] = time.monotonic() - started
        yield p
    finally:
        inv(p, "down", timeout=180)


def _replica(p: dict) -> dict:
    status = json.loads(inv(p, "status", "--json").stdout)
    row = next(r for r in status["services"] if r["service"] == "bankchurn")
    return row


def test_verify_passes_after_up(platform: dict) -> None:
    code, failing = verify(platform)
    assert code == 0 and not failing, failing


def test_killed_replica_is_named(platform: dict) -> None:
    pid = _replica(platform)["pids"][0]
    os.kill(pid, signal.SIGKILL)  # behind the toolkit's back
    deadline = time.monotonic() + 10
    while _replica(platform)["pids"] and time.monotonic() < deadline:
        time.sleep(0.2)
    code, failing = verify(platform)
    assert code == 1
    assert "not running" in failing["replicas"][0]
    assert {"process_user", "health", "model_version"} <= set(failing)
    assert inv(platform, "reconcile").returncode == 0  # self-heal, for the next scenario
    code, failing = verify(platform)
    assert code == 0, failing


def test_alias_moved_by_hand_is_named(platform: dict) -> None:
    script = ("import mlflow, sys; c = mlflow.MlflowClient(sys.argv[1], sys.argv[1]); "
              "c.set_registered_model_alias('bankchurn-model', 'production', sys.argv[2])")
    python = str(REPO / ".venv" / "bin" / "python")
    subprocess.run([python, "-c", script, platform["uri"], "2"], check=True, timeout=120)
    code, failing = verify(platform)
    assert code == 1 and set(failing) == {"registry_alias"}, failing
    assert "bankchurn-model@production is v2, the spec pins v1" in failing["registry_alias"][0]
    subprocess.run([python, "-c", script, platform["uri"], "1"], check=True, timeout=120)


def test_rule_file_edited_by_hand_is_named(platform: dict) -> None:
    rules = platform["state"] / "prometheus" / "config" / "rules" / "bankchurn.yml"
    original = rules.read_text()
    rules.write_text(original.replace(">= 0.05", ">= 0.5"))
    try:
        code, failing = verify(platform)
        assert code == 1 and "rules_staged" in failing, failing
        assert "bankchurn.yml" in failing["rules_staged"][0]
    finally:
        rules.write_text(original)


def test_preflight_and_deploy_stop_on_a_version_not_in_the_registry(platform: dict) -> None:
    before = _replica(platform)
    set_version(platform["root"], 99)
    try:
        proc = inv(platform, "preflight", "--service", "bankchurn")
        assert proc.returncode == 1
        assert "FAIL registry        bankchurn-model v99 is not in the registry" in proc.stdout
        # generated/ is stale too (the spec edit was not rendered): also named.
        assert re.search(r"preflight bankchurn: FAILED: .*registry", proc.stdout)
        deploy = inv(platform, "deploy", "--service", "bankchurn")
        assert deploy.returncode == 1
        assert "preflight failed: registry" in deploy.stdout + deploy.stderr
        after = _replica(platform)
        assert after["pids"] == before["pids"]  # no replica touched
        assert model_version(platform["port"]) == "1"
    finally:
        set_version(platform["root"], 1)


@pytest.mark.parametrize("daemon", ["mlflow", "prometheus", "alertmanager", "monitor"])
def test_inv_logs_shows_the_platforms_daemons(platform: dict, daemon: str) -> None:
    proc = inv(platform, "logs", "--service", daemon, "--tail", "3")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert 1 <= len(lines) <= 3, proc.stdout  # a quiet monitor has said one line so far
    assert all(line.startswith(f"{daemon} ") and " | " in line for line in lines), lines
