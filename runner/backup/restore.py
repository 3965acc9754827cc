"""``inv restore SNAPSHOT|latest [--check]``: verify everything first, then swap it in.

Order, so that nothing under the state directory changes before the snapshot is known good:

1. ``restic check`` (structure, then ``--read-data-subset`` of the data): a damaged pack
   is mapped through the index to the files of this snapshot it holds, which are named;
2. ``restic restore --verify`` into a private staging folder on the same file system;
3. the manifest: every file present with its sha256 and nothing extra (a partial or
   altered snapshot names the file), every database passes ``PRAGMA integrity_check``;
4. (``--check`` stops here) nothing of the platform may be running (``inv down`` first);
5. each top-level entry (``state.db``, ``mlflow/``, ...) is renamed into place, the entry
   it replaces moved aside to ``<state>/backups/replaced-<time>/`` (never deleted; a
   failed rename puts back what was already swapped); the DVC cache entries and missing
   data files are put back; the command then reconciles.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runner.backup import settings, staging
from runner.backup.restic import Restic, damaged_paths, last_line
from runner.errors import PermanentError
from runner.spec.models import Platform
from runner.state.paths import private_dir

SIDE_FILES = ("-wal", "-shm", "-journal")  # a stale WAL would be replayed into the restore


class SnapshotRefused(PermanentError):
    """The snapshot is damaged or partial: nothing was restored."""


@dataclass
class RestoreResult:
    snapshot: str
    files: int
    checked_only: bool
    git_commit: str = ""
    swapped: list[str] = field(default_factory=list)
    moved_aside: str = ""
    data_restored: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    def render(self) -> str:
        head = f"snapshot {self.snapshot}: {self.files} files verified (restic check, restore " \
               "--verify, manifest sha256, PRAGMA integrity_check)"
        if self.checked_only:
            return head + "; --check: nothing restored"
        lines = [head, f"restored {', '.join(self.swapped) or 'nothing'} into the state directory"]
        if self.moved_aside:
            lines.append(f"  what it replaced is kept in {self.moved_aside}")
        if self.data_restored:
            lines.append(f"  data restored: {', '.join(self.data_restored)}")
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)


def verify_manifest(folder: Path) -> dict[str, Any]:
    """The manifest of a restored folder once every file matches it; names the first
    missing, altered or unexpected file."""
    path = folder / staging.MANIFEST
    try:
        manifest = json.loads(path.read_text())
        files = manifest["files"]
    except (OSError, ValueError, KeyError, TypeError):
        raise SnapshotRefused(f"partial snapshot: {staging.MANIFEST} is missing or unreadable; "
                              "nothing restored") from None
    present = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}
    present.discard(staging.MANIFEST)
    for rel in sorted(files):
        if rel not in present:
            raise SnapshotRefused(f"partial snapshot: {rel} is missing; nothing restored")
        target = folder / rel
        if target.stat().st_size != int(files[rel]["size"]):
            raise SnapshotRefused(f"damaged snapshot: {rel} is {target.stat().st_size} bytes, "
                                  f"the manifest says {files[rel]['size']} (truncated or "
                                  "altered); nothing restored")
        if staging.sha256(target) != files[rel]["sha256"]:
            raise SnapshotRefused(f"damaged snapshot: {rel} does not match its sha256 in the "
                                  "manifest; nothing restored")
    extra = sorted(present - set(files))
    if extra:
        raise SnapshotRefused(f"altered snapshot: {extra[0]} is not in the manifest; "
                              "nothing restored")
    for rel in manifest.get("databases", []):
        con = sqlite3.connect(folder / rel)
        try:
            verdict = str(con.execute("PRAGMA integrity_check").fetchone()[0])
        except sqlite3.DatabaseError as exc:
            verdict = str(exc)
        finally:
            con.close()
        if verdict != "ok":
            raise SnapshotRefused(f"damaged snapshot: {rel} fails PRAGMA integrity_check "
                                  f"({verdict[:120]}); nothing restored")
    return dict(manifest)


def fetch_verified(restic: Restic, ref: str, into: Path, read_data_subset: str
                   ) -> tuple[str, dict[str, Any]]:
    """Check the repository, restore ``ref`` into ``into`` and verify it: (id, manifest)."""
    snap = restic.find_snapshot(ref)
    ok, _, packs = restic.check(read_data_subset)
    if not ok:
        named = restic.files_in_packs(snap.id, packs)
        if named or not packs:
            what = ", ".join(named) if named else "its repository structure"
            raise SnapshotRefused(f"damaged snapshot {snap.short_id}: {what} (restic check "
                                  "failed); nothing restored")
    proc = restic.restore(snap.id, into)
    if proc.returncode != 0:
        named = damaged_paths(proc.stdout + proc.stderr)
        raise SnapshotRefused(f"damaged snapshot {snap.short_id}: "
                              f"{', '.join(named) or last_line(proc)} (restic restore --verify "
                              "failed); nothing restored")
    return snap.short_id, verify_manifest(into)


def restore_snapshot(root: Path, platform: Platform, state: Path, ref: str, *,
                     check_only: bool = False, read_data_subset: str = "100%",
                     running: list[str] | None = None) -> RestoreResult:
    """Verify snapshot ``ref`` and (unless ``check_only``) swap it into ``state``.

    ``running``: what of the platform still runs (the caller asks the runtime); a restore
    under running services is refused before anything changes.
    """
    target = settings.resolve(platform.platform.backup, root)
    settings.require_key(target)
    restic = Restic(target)
    if not restic.initialized():
        raise PermanentError(f"no backup repository at {target.repository} (set "
                             f"{settings.REPO_ENV} to where the backups are)")
    work = private_dir(state / "backups" / f"restore-{time.strftime('%Y%m%dT%H%M%S')}")
    try:
        short, manifest = fetch_verified(restic, ref, work, read_data_subset)
        result = RestoreResult(short, len(manifest["files"]), check_only,
                               git_commit=str(manifest.get("git_commit", "")))
        if check_only:
            return result
        if running:
            raise PermanentError(f"still running: {', '.join(running[:5])}; stop the platform "
                                 "first (inv down), then restore")
        aside = state / "backups" / f"replaced-{time.strftime('%Y%m%dT%H%M%S')}"
        result.swapped = swap_in(work / "state", state, aside)
        result.moved_aside = str(aside) if aside.exists() else ""
        result.data_restored = restore_dvc(root, work / "dvc-cache", manifest, result.notes)
        return result
    finally:
        shutil.rmtree(work, ignore_errors=True)


def swap_in(source: Path, state: Path, aside: Path) -> list[str]:
    """Rename each top-level entry of ``source`` into ``state``; what they replace goes to
    ``aside``. All or nothing: a failure puts every swapped entry back."""
    done: list[tuple[Path, list[tuple[Path, Path]]]] = []
    names = sorted(p.name for p in source.iterdir()) if source.is_dir() else []
    try:
        for name in names:
            dest = state / name
            moved: list[tuple[Path, Path]] = []
            done.append((dest, moved))
            for old in [dest, *(dest.with_name(name + s) for s in SIDE_FILES)]:
                if old.exists():
                    private_dir(aside)
                    os.rename(old, aside / old.name)
                    moved.append((aside / old.name, old))
            os.rename(source / name, dest)
    except OSError as exc:
        for dest, moved in reversed(done):
            if dest.exists() and not (source / dest.name).exists():
                os.rename(dest, source / dest.name)
            for parked, original in moved:
                os.rename(parked, original)
        raise PermanentError(f"restore: cannot swap {exc.filename}: {exc.strerror}; the state "
                             "directory is as it was") from None
    return names


def restore_dvc(root: Path, cache_src: Path, manifest: dict[str, Any], notes: list[str]
                ) -> list[str]:
    """Put back missing DVC cache entries, then missing workspace data files (never
    overwriting one: a differing file is named instead)."""
    cache = root / ".dvc" / "cache"
    if cache_src.is_dir():
        for src in cache_src.rglob("*"):
            dst = cache / src.relative_to(cache_src)
            if src.is_file() and not dst.exists():
                dst.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, dst)
    restored = []
    for out in manifest.get("dvc", {}).get("outs", []):
        md5, workspace = out["md5"], root / out["path"]
        if md5.endswith(".dir"):
            continue  # directory outputs: `dvc checkout` rebuilds them from the cache
        src = staging.cache_file(cache, md5)
        if workspace.exists():
            if hashlib.md5(workspace.read_bytes(), usedforsecurity=False).hexdigest() != md5:  # noqa: S324 - DVC's
                notes.append(f"{out['path']} differs from the backed-up version (kept; "
                             "dvc checkout or inv data-rollback to replace it)")
            continue
        if src.is_file():
            workspace.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, workspace)
            restored.append(str(out["path"]))
    return restored
