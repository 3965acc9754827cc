"""Minimal, comment-preserving edits of a service spec, and committing them with git.

A rollback or promotion changes one or two scalars (``model.version``, ``image``). A YAML
round-trip would drop comments and reflow the file, so the edit is a targeted line edit
of that value, checked afterwards by loading the specs again.

Edits are atomic (a temporary file renamed over the spec: a reader or a crash sees the
old file or the new one, never half of one), and ``restored_on_failure`` puts the
original back when a later step (validation, ``git commit``) fails, so the working tree
never holds an edit that is not committed.

A SIGKILL skips that cleanup, so the original is first written to a journal in the git
directory (``.git/mlgitops-spec-edit.json``, invisible to ``git status``) and the journal
is removed once the edit is committed or undone. The next process to take the apply lock
replays a journal left behind (``recover_spec_edit``): an edit whose commit landed is
kept, any other is put back, so a reconcile never deploys a spec that is not in git.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from runner.errors import PermanentError, ToolkitError
from runner.state.process_identity import alive, start_time

JOURNAL = "mlgitops-spec-edit.json"

_TOP_KEY = re.compile(r"^(?P<key>[A-Za-z_][\w-]*)\s*:(?P<rest>.*)$")


def set_model_version(text: str, version: int) -> str:
    """``text`` with ``model.version`` set to ``version`` (block or flow style)."""
    lines = text.splitlines(keepends=True)
    for i, line in enumerate(lines):
        m = _TOP_KEY.match(line)
        if not m or m.group("key") != "model":
            continue
        if "{" in m.group("rest"):  # flow style: model: {name: x, version: 3}
            new, n = re.subn(r"(\bversion\s*:\s*)\d+", rf"\g<1>{version}", line, count=1)
            if n:
                lines[i] = new
                return "".join(lines)
        for j in range(i + 1, len(lines)):
            body = lines[j]
            if body.strip() and not body[0].isspace() and not body.lstrip().startswith("#"):
                break  # dedent: left the model mapping
            new, n = re.subn(r"^(\s+version\s*:\s*)\d+", rf"\g<1>{version}", body, count=1)
            if n:
                lines[j] = new
                return "".join(lines)
    raise PermanentError("no model.version found to edit")


def set_top_scalar(text: str, key: str, value: str) -> str:
    """``text`` with the top-level ``key: value`` replaced, keeping a trailing comment."""
    pattern = re.compile(rf"^({re.escape(key)}\s*:\s*)([^#\n]*?)(\s*(#.*)?)$", re.MULTILINE)
    new, n = pattern.subn(lambda m: f"{m.group(1)}{value}{m.group(3)}", text, count=1)
    if not n:
        raise PermanentError(f"no top-level {key}: found to edit")
    return new


def edit_service_spec(path: Path, *, version: int, image: str | None = None) -> bool:
    """Rewrite the pinned model version (and image) of one spec file; True if it changed."""
    text = path.read_text()
    new = set_model_version(text, version)
    if image:
        new = set_top_scalar(new, "image", image)
    if new == text:
        return False
    write_atomic(path, new)
    return True


def edit_replicas(path: Path, replicas: int) -> bool:
    """Rewrite the top-level ``replicas:`` of one spec file (added after ``port:`` when the
    file relies on the default); True if it changed."""
    text = path.read_text()
    try:
        new = set_top_scalar(text, "replicas", str(replicas))
    except PermanentError:
        new, n = re.subn(r"(?m)^(port\s*:[^\n]*\n)", rf"\g<1>replicas: {replicas}\n", text,
                         count=1)
        if not n:
            raise PermanentError(f"{path.name}: no top-level port: to add replicas after") from None
    if new == text:
        return False
    write_atomic(path, new)
    return True


def write_atomic(path: Path, text: str) -> None:
    """Replace ``path``'s content in one rename, keeping its permission bits."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, path.stat().st_mode & 0o7777 if path.exists() else 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@contextmanager
def restored_on_failure(root: Path, path: Path) -> Iterator[None]:
    """Run the ``with`` body (edit, check, commit); on any failure restore ``path``.

    The file gets its original text back and, best effort, the index its committed entry
    (a ``git add`` may have staged the edit before ``git commit`` failed)."""
    original = path.read_text(encoding="utf-8")
    journal = journal_path(root)
    if journal is not None:
        rel = str(path.resolve().relative_to(root.resolve()))
        write_atomic(journal, json.dumps({"path": rel, "original": original, "pid": os.getpid(),
                                          "start": start_time(os.getpid())}))
    try:
        yield
    except BaseException:
        _restore(root, path, original)
        raise
    finally:
        if journal is not None:
            journal.unlink(missing_ok=True)


def _restore(root: Path, path: Path, original: str) -> None:
    if path.read_text(encoding="utf-8") != original:
        write_atomic(path, original)
    try:
        rel = str(path.resolve().relative_to(root.resolve()))
        git(root, "reset", "-q", "--", rel)
    except (ToolkitError, OSError, ValueError):
        pass  # e.g. the same stale index.lock: then nothing was staged either


def journal_path(root: Path) -> Path | None:
    """Where the edit journal of ``root``'s repository lives (None outside git)."""
    try:
        return root / git(root, "rev-parse", "--git-path", JOURNAL)
    except (ToolkitError, OSError):
        return None


def recover_spec_edit(root: Path) -> str:
    """Replay the journal of an edit whose process died before committing or undoing it.

    Returns what was done ("" when there was nothing to do). The caller holds the apply
    lock, so no live editor is racing (a live writer's journal is left alone anyway)."""
    journal = journal_path(root)
    if journal is None or not journal.is_file():
        return ""
    try:
        entry = json.loads(journal.read_text(encoding="utf-8"))
        rel, original = str(entry["path"]), str(entry["original"])
    except (OSError, ValueError, KeyError, TypeError):
        journal.unlink(missing_ok=True)
        return "dropped an unreadable spec-edit journal"
    if alive(entry.get("pid"), entry.get("start")):
        return ""  # its writer still runs: not ours to touch
    path = root / rel
    if not git(root, "status", "--porcelain", "--", rel) or (
            path.is_file() and path.read_text(encoding="utf-8") == original):
        # Committed (tree and index as HEAD), or killed before the edit was written.
        git(root, "reset", "-q", "--", rel)
        journal.unlink(missing_ok=True)
        return ""
    _restore(root, path, original)
    journal.unlink(missing_ok=True)
    return f"{rel}: an edit interrupted before its commit was undone (the spec is as in git)"


def git(root: Path, *args: str) -> str:
    """Run one git command (argv, no shell) in ``root``; raise with git's own message."""
    proc = subprocess.run(  # noqa: S603
        ["git", "-C", str(root), *args], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise ToolkitError(f"git {args[0]} failed: {(proc.stderr or proc.stdout).strip()[:300]}")
    return proc.stdout.strip()


def head_commit(root: Path) -> str:
    """The current commit, or "" outside a git repository."""
    try:
        return git(root, "rev-parse", "HEAD")
    except (ToolkitError, OSError):
        return ""


def commit_spec(root: Path, path: Path, message: str) -> str:
    """Commit only ``path`` with ``message``; returns the new commit id."""
    rel = str(path.resolve().relative_to(root.resolve()))
    git(root, "add", "--", rel)
    git(root, "commit", "-q", "-m", message, "--", rel)
    return git(root, "rev-parse", "HEAD")
