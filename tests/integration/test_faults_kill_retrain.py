"""Fault: the runner SIGKILLed at 20 seeded random points of a real retrain with its
promotion (issue 13).

The whole command is killed, not a piece of it: ``inv retrain --service bankchurn --data
CSV`` validates the generator's rows, trains the project's pipeline, compares with the
champion, registers the candidate in MLflow (sqlite), gates it, promotes it (spec edit +
git commit under the apply lock) and deploys the new version (health-gated switch,
post-deploy watch, production alias). The points are fractions of one measured full
retrain, so they spread over start-up, data, training, registration and promotion. Then
three exact points by hooks in the same real command: after the spec edit, after
``git add``, after ``git commit``.

After every kill ``fault_support.assert_converged``: the next ``inv reconcile`` exits 0,
plan in sync, the service answers at the version git pins, git clean, lock released,
every replica recorded, every version registered before still there and whole, the
production alias on the pinned version, the audit log readable. A kill between
"registered" and "committed" leaves a registered version that is not promoted: allowed
(it is not lost; the champion keeps serving), but the spec never pins a version that
does not exist. The lab's gate is loosened (min 0.5, any regression tolerated) so every
retrain promotes: this tests the faults, not the gate (test_lifecycle tests the gate).

Cost (2 cores): one retrain of 600 rows takes 13 s at load 2 and 21 s at load 3.5; a kill
after the commit costs a whole deploy in the next reconcile (11-21 s), before it under a
second; the test took 6.5 min at load 1-5 and 8.6 min at load 3-3.6, 15 min inside CI. Its own
file, so CI's ``--dist loadfile`` runs it on a worker beside the deploy kill test; CI runs 6 of
the 20 points (``POINTS``), ``MLGITOPS_FAULTS=full`` all of them.
"""

from __future__ import annotations

import json
import os
import random
import re
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
from fault_support import (
    SPEC,
    assert_converged,
    git_clean,
    inv,
    inv_argv,
    inv_env,
    kill_after,
    kill_at_argv,
    pinned,
)
from reconcile_fixtures import free_port, git, make_repo

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SEED = 1313
# All 20 seeded points took 15 minutes in CI (loaded 2 cores, beside the rest of the suite),
# over its 25-minute budget: CI runs the first 6 of the same seeded points and the 3 hooks;
# MLGITOPS_FAULTS=full runs all 20 (`MLGITOPS_FAULTS=full .venv/bin/pytest
# tests/integration/test_faults_kill_retrain.py`, 6.5-8.6 min alone).
POINTS = 20 if os.environ.get("MLGITOPS_FAULTS") == "full" else 6
ROWS = 600  # one retrain takes seconds; retrain.min_rows is 200 (120 held out)
FIRST_SEED = 100  # data seeds: one fresh data set per retrain, so each is a new version

GENERATE = r"""
import sys
from generate import main
out, rows, first, last = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
for seed in range(first, last):
    main(["--rows", rows, "--seed", str(seed), "--out", f"{out}/d{seed}.csv"])
"""

# Exact points inside the promotion, by hooks in the same real command (fault_support.KILL_AT).
SPECEDIT = "runner.operations.specedit"
HOOKS = {"after-edit": (SPECEDIT, "edit_service_spec", "after", ""),
         "after-add": (SPECEDIT, "git", "after", "add"),
         "after-commit": (SPECEDIT, "commit_spec", "after", "")}

PHASES = (("Pull and validate", "start-up + data"), ("Train the candidate", "training"),
          ("Candidate vs champion", "compare + register"), ("Promote through", "promote + deploy"))


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    tmp = tmp_path_factory.mktemp("faults-kill-retrain")
    port = free_port()
    root = make_repo(tmp, port=port, watch_s=1)
    spec = root / SPEC
    text = spec.read_text()
    for key, value in (("min", "0.5"), ("max_regression", "1.0"), ("guardrail_max_drop", "1.0")):
        text = re.sub(rf"(?m)^(  {key}: )[\d.]+", rf"\g<1>{value}", text)
    spec.write_text(text)
    git(root, "commit", "-q", "-am", "fault lab: a gate every retrain passes")
    state, data = tmp / "state", tmp / "data"
    data.mkdir()
    subprocess.run([sys.executable, "-c", GENERATE, str(data), str(ROWS), str(FIRST_SEED),
                    str(FIRST_SEED + POINTS + len(HOOKS) + 3)],
                   cwd=root / "projects" / "bankchurn", check=True, capture_output=True,
                   timeout=120, env=inv_env(root, state))
    uri = f"sqlite:///{state / 'mlflow' / 'mlflow.db'}"
    lab = {"root": root, "state": state, "port": port, "uri": uri, "data": data,
           "env": inv_env(root, state, MLFLOW_TRACKING_URI=uri), "seed": FIRST_SEED}
    try:
        yield lab
    finally:
        inv(root, state, "down", MLFLOW_TRACKING_URI=uri, timeout=120)


def _next_data(lab: dict) -> str:
    lab["seed"] += 1
    return str(lab["data"] / f"d{lab['seed'] - 1}.csv")


def _retrain_argv(lab: dict) -> list[str]:
    return inv_argv("retrain", "--service", "bankchurn", "--data", _next_data(lab))


def _timed_retrain(lab: dict) -> tuple[float, list[tuple[float, str]], str]:
    """One un-killed retrain: its wall time, when each play task ended, its output."""
    started = time.monotonic()
    proc = subprocess.Popen(_retrain_argv(lab), cwd=lab["root"], env=lab["env"], text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert proc.stdout is not None
    ends, lines = [], []
    for line in proc.stdout:
        lines.append(line)
        for task, phase in PHASES:
            if task in line and not line.startswith(" "):
                ends.append((time.monotonic() - started, phase))
    rc = proc.wait(timeout=600)
    full = time.monotonic() - started
    out = "".join(lines)
    assert rc == 0 and "promoted: v" in out, out[-3000:]
    return full, ends, out


def _phase(at: float, ends: list[tuple[float, str]]) -> str:
    return next((phase for end, phase in ends if at <= end), "bookkeeping after the deploy")


def test_kill_9_at_seeded_points_of_a_retrain_with_promote_then_reconcile_converges(
        lab: dict) -> None:
    root, env = lab["root"], lab["env"]
    test_started = time.monotonic()
    _timed_retrain(lab)  # the first model (v1, as the spec already pins) and its deploy
    known = assert_converged(lab, "first model")
    full, ends, _ = _timed_retrain(lab)  # v2 over a champion: what the points divide
    known = assert_converged(lab, "measured retrain", known_versions=known)
    assert pinned(root) == 2
    rng = random.Random(SEED)
    points = sorted(rng.uniform(0.05, 1.0) * full for _ in range(POINTS))
    print(f"\nretrain takes {full:.1f}s; phases end at "
          + ", ".join(f"{phase} {end:.1f}s" for end, phase in ends))
    for i, at in enumerate(points):
        before, head = pinned(root), git(root, "rev-parse", "HEAD")
        kill_after(_retrain_argv(lab), env, root, at)
        started = time.monotonic()
        known = assert_converged(lab, f"point {i} at {at:.2f}s", known_versions=known)
        took = time.monotonic() - started
        after = pinned(root)
        # Either the kill came before the commit (the champion stays pinned) or after it
        # (the new version is pinned by a promote commit and now serves).
        if after != before:
            message = git(root, "log", "-1", "--format=%s")
            assert message.startswith(f"promote bankchurn to model v{after} "), message
            assert git(root, "rev-parse", "HEAD~1") == head
        print(f"point {i:2d} at {at:5.2f}s ({_phase(at, ends)}): v{before} -> v{after}, "
              f"{len(known)} versions registered; converged in {took:.1f}s")

    for hook in HOOKS:
        before = pinned(root)
        argv = kill_at_argv(HOOKS[hook], "retrain", "--service", "bankchurn", "--data",
                            _next_data(lab))
        kill_after(argv, env, root, 600)  # it SIGKILLs itself at the hook
        label = f"retrain killed {hook}"
        if hook != "after-commit":
            assert git_clean(root) != "", label  # the SIGKILL did leave an uncommitted edit
        known = assert_converged(lab, label, known_versions=known)
        if hook == "after-commit":
            assert pinned(root) == max(known) > before, label  # committed: deployed now
        else:
            assert pinned(root) == before, label  # undone: git never held the edit
        print(f"{label}: v{before} -> v{pinned(root)}")

    # The next retrain still works after all of it.
    before = pinned(root)
    proc = inv(root, lab["state"], "retrain", "--service", "bankchurn", "--data",
               _next_data(lab), MLFLOW_TRACKING_URI=lab["uri"])
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    after = pinned(root)
    assert f"promoted: v{before} -> v{after}" in out and after > before, out[-3000:]
    assert_converged(lab, "final retrain", known_versions=known)
    proc = inv(root, lab["state"], "history", "--service", "bankchurn", "--json",
               MLFLOW_TRACKING_URI=lab["uri"])
    assert proc.returncode == 0, proc.stderr[-1500:]
    history = json.loads(proc.stdout[proc.stdout.index("{"):])  # the CLI's JSON parses
    assert history["revisions"][-1]["model_version"] == after, history["revisions"][-1]
    print(f"final retrain v{before} -> v{after}; test took {time.monotonic() - test_started:.0f}s")
