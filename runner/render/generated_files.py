"""The one writer of ``generated/``: compare rendered text with a directory, then write.

Everything that puts files under ``generated/`` (``inv render``, the playbook ``render``
module, ``inv reconcile``, the JSON schemas) goes through here. It works on a mapping of
paths relative to one output directory (``generated/<env>`` or ``generated/schema``):

- ``diff_dir`` lists the differences as data (``Change``: op, path, old text, new text);
- ``apply`` makes them: changed files are replaced atomically (temp file + rename, so
  readers never see half a file), unchanged ones are left alone (their mtimes stay), files
  nothing renders are deleted when ``prune`` is on;
- ``write_dir`` is both; ``check_dir`` is the diff plus one unified diff (``render --check``).

``keep`` names files known to be up to date without reading them (the incremental render
vouches for them); they are neither compared nor pruned.
"""

from __future__ import annotations

import contextlib
import difflib
import os
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Change:
    """One difference: ``op`` is create, update or delete; texts are None where absent."""

    op: str
    path: str  # relative to the directory
    old: str | None
    new: str | None


@dataclass
class CheckResult:
    """Differences between a fresh render and a directory on disk."""

    changed: list[str] = field(default_factory=list)  # rendered text differs from the file
    missing: list[str] = field(default_factory=list)  # rendered, but no file on disk
    extra: list[str] = field(default_factory=list)  # on disk, but no spec produces it
    diff: str = ""

    @property
    def ok(self) -> bool:
        return not (self.changed or self.missing or self.extra)

    def merge(self, other: CheckResult) -> CheckResult:
        return CheckResult(
            changed=self.changed + other.changed,
            missing=self.missing + other.missing,
            extra=self.extra + other.extra,
            diff=self.diff + other.diff,
        )

    def summary(self) -> str:
        lines = [f"{path}: differs from a fresh render" for path in self.changed]
        lines += [f"{path}: missing (run inv render)" for path in self.missing]
        lines += [f"{path}: no spec produces this file" for path in self.extra]
        return "\n".join(lines)


def scan(directory: Path) -> dict[str, tuple[int, int]]:
    """Every file under ``directory``, relative, with its size and mtime (os.scandir: about
    a third of the time rglob and Path.stat take for 8,000 files)."""
    out: dict[str, tuple[int, int]] = {}
    stack = [("", str(directory))]
    while stack:
        prefix, path = stack.pop()
        try:
            entries = list(os.scandir(path))
        except (FileNotFoundError, NotADirectoryError):
            continue
        for entry in entries:
            rel = prefix + entry.name
            if entry.is_dir(follow_symlinks=False):
                stack.append((rel + "/", entry.path))
                continue
            try:
                st = entry.stat()
            except OSError:  # a dangling symlink: still a file nothing renders
                out[rel] = (-1, -1)
                continue
            out[rel] = (st.st_size, st.st_mtime_ns)
    return out


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return None


def diff_dir(directory: Path, files: dict[str, str], *, keep: Collection[str] = (),
             prune: bool = True, with_old: bool = True,
             on_disk: Collection[str] | None = None) -> list[Change]:
    """What writing ``files`` to ``directory`` would change, in path order. ``with_old``:
    read the text of files to delete (for diffs; writing does not need it). ``on_disk``:
    the directory's files when the caller has just scanned it."""
    if on_disk is None:
        on_disk = scan(directory)
    changes: list[Change] = []
    for rel in sorted(set(files).union(on_disk)):
        if rel in keep and rel not in files:
            continue
        new = files.get(rel)
        if new is None:
            if prune:
                changes.append(Change("delete", rel,
                                      _read(directory / rel) if with_old else None, None))
            continue
        old = _read(directory / rel) if rel in on_disk else None
        if old is None:
            changes.append(Change("create", rel, None, new))
        elif old != new:
            changes.append(Change("update", rel, old, new))
    return changes


def apply(directory: Path, changes: Iterable[Change]) -> list[str]:
    """Make the changes on disk; returns the paths written or removed."""
    touched: list[str] = []
    made: set[str] = set()  # 8,000 files sit in 1,000 folders: make each folder once
    base = str(directory)
    pid = os.getpid()
    for change in changes:
        path = f"{base}/{change.path}"
        if change.new is None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
        else:
            parent, _, name = path.rpartition("/")
            if parent not in made:
                os.makedirs(parent, exist_ok=True)
                made.add(parent)
            _write_atomic(path, f"{parent}/.{name}.{pid}.tmp", change.new)
        touched.append(change.path)
    if any(change.op == "delete" for change in changes):
        _prune_empty_dirs(directory)
    return touched


def _write_atomic(path: str, tmp: str, text: str) -> None:
    # str paths and bare os calls: pathlib's joins add up over 10,000 small files, and
    # open() adds an fstat, an isatty ioctl and two seeks to every file (8 system calls
    # instead of 4; on this VM's disk a third of a cold render of 1,000 services).
    data = memoryview(text.encode("utf-8"))
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o666)
        try:
            while data:
                data = data[os.write(fd, data):]
        finally:
            os.close(fd)
        os.replace(tmp, path)  # readers never see a half-written file
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def write_dir(directory: Path, files: dict[str, str], *, keep: Collection[str] = (),
              prune: bool = True) -> list[str]:
    """Make ``directory`` hold exactly ``files`` (plus ``keep``); returns the paths changed."""
    changes = diff_dir(directory, files, keep=keep, prune=prune, with_old=False)
    return apply(directory, changes)


def unified(changes: Iterable[Change], label: str) -> str:
    """One unified diff for ``changes``; ``label`` is the directory as users see it."""
    chunks: list[str] = []
    for change in changes:
        name = f"{label}/{change.path}" if label else change.path
        old = (change.old or "").splitlines(True)
        new = (change.new or "").splitlines(True)
        before = f"a/{name}" if change.old is not None else "/dev/null"
        after = f"b/{name}" if change.new is not None else "/dev/null"
        chunks.extend(difflib.unified_diff(old, new, before, after))
    return "".join(line if line.endswith("\n") else line + "\n" for line in chunks)


def _label(root: Path, directory: Path) -> str:
    try:
        return directory.relative_to(root).as_posix()
    except ValueError:
        return directory.as_posix()


def check_dir(root: Path, directory: Path, files: dict[str, str]) -> CheckResult:
    """Compare ``files`` with ``directory``; paths in the result are relative to ``root``."""
    label = _label(Path(root), directory)
    changes = diff_dir(directory, files)
    result = CheckResult(diff=unified(changes, label))
    for change in changes:
        name = f"{label}/{change.path}"
        {"update": result.changed, "create": result.missing, "delete": result.extra}[
            change.op].append(name)
    return result


def _prune_empty_dirs(directory: Path) -> None:
    if not directory.is_dir():
        return
    for path in sorted(directory.rglob("*"), key=lambda p: len(p.parts), reverse=True):
        if path.is_dir() and not any(path.iterdir()):
            path.rmdir()


def env_dir(root: Path, env: str) -> Path:
    return Path(root) / "generated" / env


def write(root: Path, env: str, files: dict[str, str]) -> list[str]:
    """Write ``render_all`` output to ``generated/<env>/``; returns the paths changed."""
    return write_dir(env_dir(root, env), files)


def check(root: Path, env: str, files: dict[str, str]) -> CheckResult:
    """Compare ``render_all`` output with ``generated/<env>/`` without writing anything."""
    return check_dir(Path(root), env_dir(root, env), files)
