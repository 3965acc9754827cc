"""Shared by the fault tests (issue 13): run the real ``inv`` CLI against a fixture repo,
kill it, and the checks that say a platform converged after a fault with nothing lost."""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

import yaml
from reconcile_fixtures import REPO, git, model_version

INV = str(REPO / ".venv" / "bin" / "inv")
SPEC = Path("specs") / "services" / "bankchurn.yaml"
MODEL = "bankchurn-model"


def inv_env(root: Path, state: Path, **extra: str) -> dict[str, str]:
    env = {**os.environ, "MLGITOPS_ROOT": str(root), "MLGITOPS_STATE_DIR": str(state),
           "MLGITOPS_ACTOR": "fault-test", "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    env.update(extra)
    return env


def inv_argv(*args: str) -> list[str]:
    return [INV, "--search-root", str(REPO), *args]


def inv(root: Path, state: Path, *args: str, timeout: float = 240,
        **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(inv_argv(*args), cwd=root, env=inv_env(root, state, **extra),
                          capture_output=True, text=True, timeout=timeout, check=False)


def git_clean(root: Path) -> str:
    """``git status --porcelain`` (empty: nothing edited, staged or left behind)."""
    return subprocess.run(["git", "-C", str(root), "status", "--porcelain"], check=True,
                          capture_output=True, text=True).stdout.strip()


def pinned(root: Path) -> int:
    """The model version bankchurn's spec pins in git (HEAD, not the working tree)."""
    found = re.search(r"(?m)^  version: (\d+)", git(root, "show", f"HEAD:{SPEC}"))
    assert found
    return int(found.group(1))


# The real ``inv`` with its runner SIGKILLing itself right before or after one function
# (found by module and name at call time, so the wrapper is what the code calls); ``arg``
# limits it to calls with that positional argument (``git`` with ``add``).
KILL_AT = r"""
import importlib, os, signal, sys
module, name, when, arg = sys.argv[1:5]
mod = importlib.import_module(module)
func = getattr(mod, name)

def hooked(*args, **kwargs):
    hit = not arg or arg in args
    if hit and when == "before":
        os.kill(os.getpid(), signal.SIGKILL)
    out = func(*args, **kwargs)
    if hit and when == "after":
        os.kill(os.getpid(), signal.SIGKILL)
    return out

setattr(mod, name, hooked)
from invoke.main import program
program.run(["inv", *sys.argv[5:]])
"""


def kill_at_argv(hook: tuple[str, str, str, str], *args: str) -> list[str]:
    """argv of ``inv ARGS`` killed at ``hook``: (module, function, before|after, arg)."""
    return [sys.executable, "-c", KILL_AT, *hook, *inv_argv(*args)[1:]]


def kill_after(argv: list[str], env: dict[str, str], cwd: Path, delay: float) -> float:
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


def replica_pids(state: Path) -> set[int]:
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


def registry_state(uri: str) -> tuple[dict[int, str], dict[str, int]]:
    """Every registered bankchurn-model version with its status (each one's stored model
    checked: an MLmodel naming a model file that is there), and the model's aliases.

    Through a client of its own: mlflow's globals would leak this lab's registry into
    the environment of every later subprocess of the test worker."""
    from runner.ml.registry import client_for

    mlc = client_for(uri, set_globals=False)
    versions: dict[int, str] = {}
    for mv in mlc.search_model_versions(f"name='{MODEL}'"):
        where = mlc.get_model_version_download_uri(MODEL, mv.version)
        folder = Path(urlparse(where).path if where.startswith("file:") else where)
        mlmodel = yaml.safe_load((folder / "MLmodel").read_text())
        stored = mlmodel["flavors"]["sklearn"]["pickled_model"]
        assert (folder / stored).is_file(), (mv.version, folder, stored)
        versions[int(mv.version)] = mv.status
    aliases = {k: int(v) for k, v in mlc.get_registered_model(MODEL).aliases.items()}
    return versions, aliases


def history_json() -> dict:
    """``inv history --service bankchurn --json`` in-process (the CLI costs seconds a call):
    the audit log and revisions still read and parse."""
    from runner.commands.status import history_command

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert history_command("bankchurn", as_json=True) == 0
    text = out.getvalue()
    return json.loads(text[text.index("{"):])


def assert_converged(lab: dict, label: str, *, known_versions: set[int] | None = None) -> set[int]:
    """The next ``inv reconcile`` converges, with nothing lost; the registry's versions.

    ``lab``: root, state, port, uri. ``known_versions``: versions registered before the
    fault, each of which must still be there (READY, its stored model on disk)."""
    from runner.state.lock import holder
    from runner.state.state_store import SUCCESS, StateStore

    root, state = lab["root"], lab["state"]
    proc = inv(root, state, "reconcile", MLFLOW_TRACKING_URI=lab["uri"])
    assert proc.returncode == 0, (label, proc.stdout[-1500:], proc.stderr[-1500:])
    want = pinned(root)
    assert model_version(lab["port"]) == str(want), label
    assert git_clean(root) == "", (label, git_clean(root))
    journal = root / git(root, "rev-parse", "--git-path", "mlgitops-spec-edit.json")
    assert not journal.exists(), (label, "a spec-edit journal left after the reconcile")
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
    assert replica_pids(state) <= known, (label, replica_pids(state), known)
    # Nothing lost in the registry: every version seen before is still there and whole,
    # the spec pins one that exists, and the production alias follows the spec (moved by
    # the deploy that made the pinned version serve). A kill between "registered" and
    # "committed" leaves a newer version that is not promoted: allowed, it is not lost,
    # only not serving (its challenger alias says what it was).
    versions, aliases = registry_state(lab["uri"])
    assert want in versions, (label, want, sorted(versions))
    lost = (known_versions or set()) - set(versions)
    assert not lost, (label, "registered versions lost", sorted(lost))
    assert all(status == "READY" for status in versions.values()), (label, versions)
    assert aliases.get("production") == want, (label, aliases, want)
    assert all(v in versions for v in aliases.values()), (label, aliases)
    history = history_json()
    assert history["revisions"] and history["audit"], label
    return set(versions)
