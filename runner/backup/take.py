"""``inv backup``: gather a consistent staging folder, snapshot it with restic, apply the
retention; ``inv backup --list``.

The staging folder lives under the state directory (same file system, private) and is
removed afterwards whatever happened. The key is checked before anything is written:
a key that would live under the state directory is refused (``settings.ensure_key``).
"""

from __future__ import annotations

import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runner.backup import settings, staging
from runner.backup.restic import Restic, Snapshot
from runner.spec.models import Platform
from runner.state import StateStore
from runner.state.paths import private_dir

Say = Callable[[str], None]


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


@dataclass
class BackupResult:
    snapshot: str
    repository: str
    files: int
    bytes: int
    duration_s: float
    databases: list[str]
    notes: list[str] = field(default_factory=list)
    retention: str = ""

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    def render(self) -> str:
        lines = [f"backup {self.snapshot} in {self.repository}: {self.files} files, "
                 f"{self.bytes / 1e6:.1f} MB, databases {', '.join(self.databases) or 'none'} "
                 f"({self.duration_s:.1f}s)"]
        lines += [f"  note: {n}" for n in self.notes]
        if self.retention:
            lines.append(f"  retention: {self.retention}")
        return "\n".join(lines)


def take_backup(root: Path, platform: Platform, state: Path, tracking_uri: str, *,
                actor: str, say: Say = _stderr, tags: list[str] | None = None,
                retention: bool = True) -> BackupResult:
    """Snapshot the platform's data (see ``staging``) into the configured repository."""
    began = time.monotonic()
    target = settings.resolve(platform.platform.backup, root)
    created_key = settings.ensure_key(target, state)  # refuses a key under the state dir
    restic = Restic(target)
    notes = [created_key] if created_key else []
    local = target.local_path
    if local is not None and settings.under(local, state):
        notes.append(f"the repository is under {state}: a wiped state directory loses it; set "
                     f"{settings.REPO_ENV} (or backup.repository) to another disk or bucket")
    if restic.init():
        say(f"created restic repository {target.repository}")
    folder = private_dir(state / "backups" / f"staging-{time.strftime('%Y%m%dT%H%M%S')}")
    try:
        manifest = staging.gather(root, platform, state, tracking_uri, folder)
        say(f"staged {len(manifest['files'])} files; writing the snapshot")
        snapshot = restic.backup(folder, [f"env-{platform.environment}", *(tags or [])])
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    notes += manifest["notes"]
    if manifest["dvc"]["missing"]:
        notes.append("DVC data not in the cache (dvc pull first): "
                     + ", ".join(manifest["dvc"]["missing"]))
    kept = ""
    if retention:
        spec = platform.platform.backup
        kept = restic.forget(spec.keep_daily, spec.keep_monthly)
    result = BackupResult(
        snapshot=snapshot, repository=target.repository, files=len(manifest["files"]),
        bytes=sum(int(f["size"]) for f in manifest["files"].values()),
        duration_s=round(time.monotonic() - began, 2), databases=manifest["databases"],
        notes=notes, retention=kept,
    )
    store = StateStore(state)
    try:
        store.audit("backup", actor=actor, outcome="ok", snapshot=snapshot,
                    repository=target.repository, files=result.files, bytes=result.bytes,
                    git_commit=manifest["git_commit"], duration_s=result.duration_s)
    finally:
        store.close()
    return result


def list_snapshots(root: Path, platform: Platform) -> list[Snapshot]:
    target = settings.resolve(platform.platform.backup, root)
    settings.require_key(target)
    restic = Restic(target)
    if not restic.initialized():
        return []
    return sorted(restic.snapshots(), key=lambda s: s.time)
