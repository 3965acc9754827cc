"""Fault: the runner SIGKILLed mid-deploy and mid-promote (issue 13).

At seeded random points of an ``inv reconcile`` that replaces bankchurn (as fractions of a
measured deploy, so the points spread over pre-checks, start, switch, park, watch and the
bookkeeping), and at hook points and random points of a promotion (spec edit, git add,
git commit, deploy), the runner process is SIGKILLed. The next ``inv reconcile`` must
converge every time: exit 0, ``inv plan`` in sync, the service answering at the version
git pins, the state store consistent (the newest revision is that version's success, the
apply lock released), every replica process recorded, ``git status --porcelain`` empty.
"""

from __future__ import annotations

import os
import random
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fault_support import git_clean, inv, inv_argv, inv_env
from reconcile_fixtures import (
    REPO,
    free_port,
    git,
    make_repo,
    model_version,
    register_models,
    set_version,
)

from runner.state.lock import holder
from runner.state.state_store import SUCCESS, StateStore

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SEED = 13
DEPLOY_POINTS = 20
PROMOTE_RANDOM_POINTS = 4
SPEC = Path("specs") / "services" / "bankchurn.yaml"


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


def pinned(root: Path) -> int:
    found = re.search(r"(?m)^  version: (\d+)", git(root, "show", f"HEAD:{SPEC}"))
    assert found
    return int(found.group(1))


def _replica_pids(state: Path) -> set[int]:
    """Every live process started as a replica for this state directory (by environment)."""
    marker = f"MLGITOPS_STATE_DIR={state}\0".encode()
    pids = set()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            environ = (proc / "environ").read_bytes()
            cmd = (proc / "cmdline").read_bytes()
        except OSError:
            continue
        if marker in environ and b"runner.serving.launch" in cmd:
            pids.add(int(proc.name))
    return pids


def assert_converged(lab: dict, label: str) -> None:
    root, state = lab["root"], lab["state"]
    proc = inv(root, state, "reconcile", MLFLOW_TRACKING_URI=lab["uri"])
    assert proc.returncode == 0, (label, proc.stdout[-1500:], proc.stderr[-1500:])
    want = pinned(root)
    assert model_version(lab["port"]) == str(want), label
    assert git_clean(root) == "", (label, git_clean(root))
    store = StateStore(state)
    try:
        current = store.current("bankchurn")
        assert current is not None and current.model_version == want, (label, current)
        newest = store.revisions("bankchurn")[-1]
        assert newest.outcome == SUCCESS or newest.model_version != want, (label, newest)
        assert holder(store) is None, (label, holder(store))
    finally:
        store.close()
    # No replica the runtime does not know about (started, then its runner killed before
    # the record was written): every replica process is a recorded one, serving or parked.
    from runner.operations import open_env
    from runner.reconcile.plan import make_plan

    os.environ.update(MLGITOPS_ROOT=str(root), MLGITOPS_STATE_DIR=str(state))
    env = open_env(root, quiet=True)
    try:  # `inv plan` in-process (a subprocess per point costs seconds): in sync
        plan = make_plan(env.platform, env.runtime, env.store, tracking_uri=lab["uri"])
        assert not plan.changes, (label, plan.render())
        known = {f.pid for f in env.runtime.facts(["bankchurn"])["bankchurn"]}
        known |= {f.pid for f in env.runtime.standby("bankchurn")}
    finally:
        env.store.close()
    assert _replica_pids(state) <= known, (label, _replica_pids(state), known)


def _kill_after(argv: list[str], env: dict[str, str], cwd: Path, delay: float) -> float:
    """Start ``argv``, SIGKILL it after ``delay`` s (if still running); when it ended."""
    started = time.monotonic()
    proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        proc.wait(timeout=delay)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)  # the runner only: its git and replicas live on
        proc.wait(timeout=30)
    return time.monotonic() - started


def test_kill_9_at_20_points_of_a_deploy_then_reconcile_converges(lab: dict) -> None:
    root, state = lab["root"], lab["state"]
    env = inv_env(root, state, MLFLOW_TRACKING_URI=lab["uri"])
    set_version(root, 2)  # measure one whole deploy: the points are fractions of it
    full = _kill_after(inv_argv("reconcile"), env, root, 600)
    assert_converged(lab, "measured deploy")
    rng = random.Random(SEED)
    points = sorted(rng.uniform(0.05, 1.0) for _ in range(DEPLOY_POINTS))
    print(f"deploy takes {full:.1f}s; kill points (s): "
          + ", ".join(f"{p * full:.2f}" for p in points))
    for i, frac in enumerate(points):
        target = 1 if pinned(root) == 2 else 2
        set_version(root, target)
        _kill_after(inv_argv("reconcile"), env, root, frac * full)
        assert_converged(lab, f"point {i} at {frac * full:.2f}s -> v{target}")


PROMOTE = r"""
import os, signal, sys
from pathlib import Path
import runner.operations.specedit as specedit
from runner.lifecycle.common import service_context
from runner.lifecycle.promote import promote

root, version, hook = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3]

def die():
    os.kill(os.getpid(), signal.SIGKILL)

def after(func, when=lambda *a: True):
    def wrapped(*args, **kwargs):
        out = func(*args, **kwargs)
        if when(*args):
            die()
        return out
    return wrapped

if hook == "after-edit":
    specedit.edit_service_spec = after(specedit.edit_service_spec)
elif hook == "after-add":
    specedit.git = after(specedit.git, lambda root, *a: a[:1] == ("add",))
elif hook == "after-commit":
    specedit.commit_spec = after(specedit.commit_spec)
ctx = service_context(root, "bankchurn")
outcome = {"candidate": {"roc_auc": 0.9}, "champion": {"roc_auc": 0.8},
           "candidate_version": version, "champion_version": ctx.spec.model.version,
           "summary": "fault test", "holdout_rows": 10, "data_version": "0" * 12,
           "data": str(root / "data.csv")}
print(promote(ctx, outcome, actor="fault-test", reason="fault test"))
"""


def test_kill_9_during_promote_then_reconcile_converges(lab: dict) -> None:
    root, state = lab["root"], lab["state"]
    env = inv_env(root, state, MLFLOW_TRACKING_URI=lab["uri"])
    rng = random.Random(SEED + 1)
    hooks = ["after-edit", "after-add", "after-commit"]
    delays = sorted(rng.uniform(0.3, 6.0) for _ in range(PROMOTE_RANDOM_POINTS))
    points = [(h, 600.0) for h in hooks] + [("none", d) for d in delays]
    for hook, delay in points:
        before = pinned(root)
        target = 1 if before == 2 else 2
        argv = [sys.executable, "-c", PROMOTE, str(root), str(target), hook]
        _kill_after(argv, env, root, delay)
        label = f"promote v{before}->v{target} killed {hook} / {delay:.2f}s"
        if hook in ("after-edit", "after-add"):
            assert git_clean(root) != "", label  # the SIGKILL did leave an uncommitted edit
        assert_converged(lab, label)
        if hook in ("after-edit", "after-add"):
            assert pinned(root) == before, label  # undone: git never held the edit
        if hook == "after-commit":
            assert pinned(root) == target, label  # committed: the next reconcile deploys it
    events = subprocess.run(inv_argv("history", "--service", "bankchurn", "--json"), cwd=root,
                            env=env, capture_output=True, text=True, check=False).stdout
    assert REPO.exists() and events  # history still reads after all of it
