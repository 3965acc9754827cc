"""Fault: the model registry (MLflow) is down during a deploy (issue 13).

The tracking URI points at a server that does not answer. ``inv reconcile`` of a version
change must end with one clear line naming the unreachable registry, and nothing half
applied: the old replica still serving, no revision recorded, the spec untouched (no
automatic rollback commit), the apply lock released.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fault_support import git_clean, inv
from reconcile_fixtures import (
    free_port,
    git,
    make_repo,
    model_version,
    register_models,
    set_version,
)

from runner.state.lock import holder
from runner.state.state_store import StateStore

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    tmp = tmp_path_factory.mktemp("faults-registry")
    port = free_port()
    root = make_repo(tmp, port=port, watch_s=1)
    state = tmp / "state"
    uri = register_models(state)
    proc = inv(root, state, "reconcile", MLFLOW_TRACKING_URI=uri)
    assert proc.returncode == 0, proc.stderr[-2000:]
    try:
        yield {"root": root, "state": state, "port": port, "uri": uri}
    finally:
        inv(root, state, "down", MLFLOW_TRACKING_URI=uri, timeout=120)


def test_registry_down_during_deploy_is_one_line_and_changes_nothing(lab: dict) -> None:
    root, state = lab["root"], lab["state"]
    store = StateStore(state)
    revisions = len(store.revisions("bankchurn"))
    store.close()
    set_version(root, 2)
    head = git(root, "rev-parse", "HEAD")
    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    proc = inv(root, state, "reconcile", MLFLOW_TRACKING_URI=dead, timeout=180)
    print(proc.stdout[-1500:], proc.stderr[-1500:])
    assert proc.returncode != 0
    assert "Traceback" not in proc.stdout + proc.stderr
    errors = [line for line in proc.stderr.splitlines() if "unreachable" in line]
    assert errors and dead in errors[0], proc.stderr[-1500:]
    assert model_version(lab["port"]) == "1"  # the old replica still serves
    assert git(root, "rev-parse", "HEAD") == head and git_clean(root) == ""  # no rollback commit
    store = StateStore(state)
    try:
        assert len(store.revisions("bankchurn")) == revisions  # no revision recorded at all
        assert store.current("bankchurn").model_version == 1  # type: ignore[union-attr]
        assert holder(store) is None
    finally:
        store.close()
    # The registry back: the same reconcile converges.
    proc = inv(root, state, "reconcile", MLFLOW_TRACKING_URI=lab["uri"])
    assert proc.returncode == 0, proc.stderr[-1500:]
    assert model_version(lab["port"]) == "2"
