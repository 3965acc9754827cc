"""Fault: the runner SIGKILLed mid-deploy (issue 13).

At seeded random points of an ``inv reconcile`` that replaces bankchurn (as fractions of a
measured deploy, so the points spread over pre-checks, start, switch, park, watch and the
bookkeeping), the runner process is SIGKILLed. The next ``inv reconcile`` must converge
every time: exit 0, ``inv plan`` in sync, the service answering at the version git pins,
the state store consistent (the newest revision is that version's success, the apply
lock released), every replica process recorded, ``git status --porcelain`` empty, every
registered model version still there and the ``production`` alias on the pinned one
(``fault_support.assert_converged``). The kill points of a retrain with its promotion are
in ``test_faults_kill_retrain.py`` (a file of its own: CI runs files in parallel).
"""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest
from fault_support import (
    assert_converged,
    inv,
    inv_argv,
    inv_env,
    kill_after,
    kill_at_argv,
    pinned,
)
from reconcile_fixtures import free_port, make_repo, model_version, register_models, set_version

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SEED = 13
DEPLOY_POINTS = 20


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    tmp = tmp_path_factory.mktemp("faults-kill")
    port = free_port()
    root = make_repo(tmp, port=port, watch_s=1)
    state = tmp / "state"
    uri = register_models(state)
    lab = {"root": root, "state": state, "port": port, "uri": uri}
    proc = inv(root, state, "reconcile", MLFLOW_TRACKING_URI=uri)
    assert proc.returncode == 0, proc.stderr[-2000:]
    try:
        yield lab
    finally:
        inv(root, state, "down", MLFLOW_TRACKING_URI=uri, timeout=120)


def test_kill_9_at_20_points_of_a_deploy_then_reconcile_converges(lab: dict) -> None:
    root, state = lab["root"], lab["state"]
    env = inv_env(root, state, MLFLOW_TRACKING_URI=lab["uri"])
    set_version(root, 2)  # measure one whole deploy: the points are fractions of it
    full = kill_after(inv_argv("reconcile"), env, root, 600)
    known = assert_converged(lab, "measured deploy")
    rng = random.Random(SEED)
    points = sorted(rng.uniform(0.05, 1.0) for _ in range(DEPLOY_POINTS))
    print(f"deploy takes {full:.1f}s; kill points (s): "
          + ", ".join(f"{p * full:.2f}" for p in points))
    for i, frac in enumerate(points):
        target = 1 if pinned(root) == 2 else 2
        set_version(root, target)
        kill_after(inv_argv("reconcile"), env, root, frac * full)
        known = assert_converged(lab, f"point {i} at {frac * full:.2f}s -> v{target}",
                                 known_versions=known)


DEPLOYMENT = "runner.operations.deployment"
# The replicas already serve the new revision; the state store and the registry do not say
# so yet. Before the fix the next reconcile saw the replicas in sync and did nothing: the
# newest revision stayed the old version (history and rollback wrong) and the production
# alias stayed on it.
BOOKKEEPING_HOOKS = {"before-record": (DEPLOYMENT, "record_revision", "before", ""),
                     "before-alias": (DEPLOYMENT, "set_production_alias", "before", "")}


@pytest.mark.parametrize("hook", sorted(BOOKKEEPING_HOOKS))
def test_kill_9_after_the_switch_before_the_bookkeeping_then_reconcile_records_it(
        lab: dict, hook: str) -> None:
    root, state = lab["root"], lab["state"]
    env = inv_env(root, state, MLFLOW_TRACKING_URI=lab["uri"])
    target = 1 if pinned(root) == 2 else 2
    set_version(root, target)
    kill_after(kill_at_argv(BOOKKEEPING_HOOKS[hook], "reconcile"), env, root, 600)
    assert model_version(lab["port"]) == str(target), hook  # switched, then killed
    assert_converged(lab, f"reconcile killed {hook} -> v{target}")
