"""``inv reconcile --watch S --git [--branch B]``: the pull-based GitOps loop.

Every interval: fetch the branch from its remote; a new commit is checked before the
working checkout moves (its specs validate and render, read from ``git archive`` of that
commit into a temporary directory); a good commit is fast-forwarded to and converged; a
bad one is refused: the checkout stays where it is, so the last good state keeps running
(and keeps self-healing), and the refusal is logged, notified through the platform's sinks
and recorded as a ``sync`` audit event, which ``inv status`` and the exporter's
``mlgitops_sync_info`` read (``runner.state.sync_log``). Works with any git remote, a
local bare repository included.
"""

from __future__ import annotations

import io
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from runner.errors import SpecError, TemporaryError, ToolkitError
from runner.operations import open_env
from runner.operations.specedit import git
from runner.state import actor, repo_root
from runner.state.sync_log import FAILED, REFUSED, SYNCED, latest, record

# What validation and render read from a candidate commit.
CANDIDATE_PATHS = ("specs", "projects")


@dataclass(frozen=True)
class Fetched:
    head: str  # what the working checkout is at
    remote_head: str  # the branch's tip on the remote
    ref: str  # e.g. origin/main


def fetch(root: Path, branch: str | None) -> Fetched:
    """``git fetch`` the branch from its remote (its upstream's, else ``origin``)."""
    branch = branch or git(root, "rev-parse", "--abbrev-ref", "HEAD")
    try:
        remote = git(root, "config", f"branch.{branch}.remote")
    except ToolkitError:
        remote = "origin"
    try:
        git(root, "fetch", "-q", remote, f"+refs/heads/{branch}:refs/remotes/{remote}/{branch}")
    except ToolkitError as exc:  # the remote is down: try again next round
        raise TemporaryError(f"fetch {remote}/{branch}: {exc.one_line()}") from None
    ref = f"{remote}/{branch}"
    return Fetched(git(root, "rev-parse", "HEAD"), git(root, "rev-parse", ref), ref)


def check_commit(root: Path, commit: str, env_name: str) -> str:
    """Why ``commit`` must not be deployed ("" when its specs validate and render)."""
    from runner.render import render_all
    from runner.spec import load_platform

    archive = _archive(root, commit)
    with tempfile.TemporaryDirectory(prefix="mlgitops-candidate-") as tmp:
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(tmp, filter="data")
        try:
            render_all(load_platform(Path(tmp), env_name))
        except ToolkitError as exc:
            return exc.one_line().replace("\n", "; ")
    return ""


def _archive(root: Path, commit: str) -> bytes:
    import subprocess

    paths = [p for p in CANDIDATE_PATHS
             if subprocess.run(["git", "-C", str(root), "cat-file", "-e", f"{commit}:{p}"],
                               capture_output=True, check=False).returncode == 0]
    proc = subprocess.run(["git", "-C", str(root), "archive", "--format=tar", commit, *paths],
                          capture_output=True, check=False)
    if proc.returncode != 0:
        raise ToolkitError(f"git archive {commit[:8]} failed: {proc.stderr.decode()[:200]}")
    return proc.stdout


def _notify(root: Path, env_name: str, message: dict[str, str]) -> None:
    from runner.monitor.sinks import deliver
    from runner.spec import load_platform

    try:
        platform = load_platform(root, env_name)  # the running (last good) specs
    except ToolkitError:
        return
    for d in deliver(platform.platform.notifications, message, severity="warning", root=root,
                     configured_state=platform.platform.state_dir):
        if not d.ok:
            print(f"sync: notify {d.sink}: {d.msg}", file=sys.stderr)


def sync_once(root: Path, env_name: str, branch: str | None) -> str:
    """Fetch and move the checkout to a new good commit; returns what happened (one line)."""
    got = fetch(root, branch)
    if got.remote_head == got.head:
        return f"at {got.ref} {got.head[:8]}"
    if _is_ancestor(root, got.remote_head, got.head):
        return f"{got.head[:8]} is ahead of {got.ref} (unpushed commits)"
    env = open_env(root, env_name, quiet=True)
    try:
        status = latest(env.store, env_name)
        if status.refused_commit == got.remote_head:
            return f"{got.remote_head[:8]} refused before ({status.reason}); {got.head[:8]} runs"
        reason = check_commit(root, got.remote_head, env_name)
        if not reason and not _is_ancestor(root, got.head, got.remote_head):
            reason = f"the checkout ({got.head[:8]}) has commits {got.ref} lacks: push or reset"
        if not reason:
            try:
                git(root, "merge", "-q", "--ff-only", got.remote_head)
            except ToolkitError as exc:
                reason = exc.one_line()
        if reason:
            record(env.store, env_name, REFUSED, got.remote_head, actor=actor(), reason=reason,
                   branch=got.ref)
            line = (f"refused {got.remote_head[:8]} from {got.ref}: {reason}; "
                    f"{got.head[:8]} keeps running")
            _notify(root, env_name, {"event": "sync.refused", "environment": env_name,
                                     "commit": got.remote_head, "reason": reason,
                                     "running": got.head})
            return line
    finally:
        env.store.close()
    return f"fast-forwarded to {got.remote_head[:8]} ({got.ref})"


def _is_ancestor(root: Path, older: str, newer: str) -> bool:
    try:
        git(root, "merge-base", "--is-ancestor", older, newer)
    except ToolkitError:
        return False
    return True


def converge(root: Path, env_name: str, as_json: bool) -> bool:
    """One reconcile of what is checked out; records the sync when the commit is new."""
    from runner.commands.converge import dump, send_notices
    from runner.reconcile import apply

    env = open_env(root, env_name, quiet=as_json)
    try:
        result = apply(env)
        send_notices(env, result.notices)  # a crash loop held, like inv reconcile says it
        if as_json:
            dump(result.as_dict())
        else:
            print(result.render(), flush=True)
        head = git(root, "rev-parse", "HEAD")
        status = latest(env.store, env_name)
        new_commit = status.synced_commit != head
        flipped = status.status in (SYNCED, FAILED) and (status.status == SYNCED) != result.ok
        if new_commit or flipped:
            failures = "; ".join(o.msg for o in result.outcomes if not o.ok)
            record(env.store, env_name, SYNCED if result.ok else FAILED, head, actor=actor(),
                   reason=failures)
        return result.ok
    finally:
        env.store.close()


def git_watch_command(env_name: str = "dev", watch: float = 30.0, branch: str = "",
                      as_json: bool = False, root: Path | None = None,
                      max_rounds: int | None = None) -> int:
    """Fetch, check, fast-forward and converge every ``watch`` seconds (0: once)."""
    root = (root or repo_root()).resolve()
    rounds, ok = 0, False
    while True:
        started = time.monotonic()
        try:
            print(f"sync: {sync_once(root, env_name, branch or None)}", file=sys.stderr,
                  flush=True)
            ok = converge(root, env_name, as_json)
        except (TemporaryError, SpecError) as exc:
            if watch <= 0:
                raise
            print(f"reconcile: {exc.one_line()}", file=sys.stderr, flush=True)
            ok = False
        rounds += 1
        if watch <= 0 or (max_rounds is not None and rounds >= max_rounds):
            return 0 if ok else 1
        time.sleep(max(0.0, watch - (time.monotonic() - started)))
