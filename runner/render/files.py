"""Put rendered text on disk, or compare it with what is there (``render --check``).

Both work on a mapping of paths relative to one output directory (``generated/<env>`` or
``generated/schema``). ``write`` makes the directory equal to the mapping: changed files are
rewritten, unchanged ones are left alone (mtimes stay), files nothing renders are deleted.
``check`` reports the same differences as data plus one unified diff, without writing.
"""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass, field
from pathlib import Path


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


def _existing(directory: Path) -> set[str]:
    if not directory.is_dir():
        return set()
    return {
        path.relative_to(directory).as_posix()
        for path in directory.rglob("*")
        if path.is_file() or path.is_symlink()
    }


def _label(root: Path, directory: Path, rel: str) -> str:
    try:
        return (directory / rel).relative_to(root).as_posix()
    except ValueError:
        return (directory / rel).as_posix()


def check_dir(root: Path, directory: Path, files: dict[str, str]) -> CheckResult:
    """Compare ``files`` with ``directory``; paths in the result are relative to ``root``."""
    result = CheckResult()
    chunks: list[str] = []
    on_disk = _existing(directory)
    for rel in sorted(set(files) | on_disk):
        label = _label(root, directory, rel)
        new = files.get(rel)
        if new is None:
            result.extra.append(label)
            old = (directory / rel).read_text(encoding="utf-8", errors="replace")
            chunks.extend(difflib.unified_diff(old.splitlines(True), [], f"a/{label}", "/dev/null"))
            continue
        if rel not in on_disk:
            result.missing.append(label)
            chunks.extend(difflib.unified_diff([], new.splitlines(True), "/dev/null", f"b/{label}"))
            continue
        old = (directory / rel).read_text(encoding="utf-8", errors="replace")
        if old != new:
            result.changed.append(label)
            chunks.extend(
                difflib.unified_diff(
                    old.splitlines(True), new.splitlines(True), f"a/{label}", f"b/{label}"
                )
            )
    result.diff = "".join(line if line.endswith("\n") else line + "\n" for line in chunks)
    return result


def write_dir(directory: Path, files: dict[str, str]) -> list[str]:
    """Make ``directory`` hold exactly ``files``; returns the relative paths written or removed."""
    touched: list[str] = []
    for rel in sorted(_existing(directory) - set(files)):
        (directory / rel).unlink()
        touched.append(rel)
    for rel, text in sorted(files.items()):
        path = directory / rel
        if path.is_file() and path.read_text(encoding="utf-8", errors="replace") == text:
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)  # readers never see a half-written file
        touched.append(rel)
    _prune_empty_dirs(directory)
    return touched


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
