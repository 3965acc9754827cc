"""The restic command line, as the backup commands use it (restic 0.14, Debian's).

restic gives what a home-made archive would have to re-invent: content-addressed,
deduplicated, encrypted and authenticated snapshots, ``check`` that reads the data back,
retention (``forget --keep-*``) and S3-compatible repositories. Every call is an argv
list with the repository and key in the environment (``settings.Target.restic_env``).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runner.backup.settings import Target
from runner.errors import NotInstalled, PermanentError

TAG = "mlgitops"
HOST = "mlgitops"  # fixed: snapshots of a platform restore on any machine as "latest"
TIMEOUT_S = 3600
PACK_ID = re.compile(r"\b[0-9a-f]{64}\b")


@dataclass(frozen=True)
class Snapshot:
    id: str
    short_id: str
    time: str
    tags: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "short_id": self.short_id, "time": self.time,
                "tags": list(self.tags)}


class Restic:
    """One repository: thin methods over ``restic`` subcommands."""

    def __init__(self, target: Target, binary: str | None = None) -> None:
        found = binary or shutil.which("restic")
        if not found:
            raise NotInstalled("restic is not installed (Debian: apt-get install restic; "
                               "scripts/setup.sh installs it)")
        self.binary = found
        self.target = target

    def run(self, *args: str, cwd: Path | None = None, check: bool = True,
            timeout: float = TIMEOUT_S) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, **self.target.restic_env(), "RESTIC_PROGRESS_FPS": "0.1"}
        env.pop("RESTIC_PASSWORD_COMMAND", None)
        proc = subprocess.run(  # noqa: S603 - argv list
            [self.binary, "--no-cache", *args], cwd=cwd, env=env, capture_output=True,
            text=True, check=False, timeout=timeout,
        )
        if check and proc.returncode != 0:
            raise PermanentError(f"restic {args[0]}: {last_line(proc)}")
        return proc

    # ------------------------------------------------------------ repository

    def initialized(self) -> bool:
        local = self.target.local_path
        if local is not None:
            return (local / "config").is_file()
        return self.run("cat", "config", check=False).returncode == 0

    def init(self) -> bool:
        """Create the repository if it does not exist; whether it was created."""
        if self.initialized():
            return False
        local = self.target.local_path
        if local is not None:
            local.parent.mkdir(parents=True, exist_ok=True)
        self.run("init")
        return True

    # ------------------------------------------------------------ snapshots

    def backup(self, folder: Path, tags: list[str]) -> str:
        """Snapshot ``folder``'s contents (paths relative to it); the snapshot id."""
        args = ["backup", "--json", "--host", HOST, "--tag", TAG]
        for tag in tags:
            args += ["--tag", tag]
        proc = self.run(*args, ".", cwd=folder)
        for line in reversed(proc.stdout.splitlines()):
            try:
                msg = json.loads(line)
            except ValueError:
                continue
            if msg.get("message_type") == "summary":
                return str(msg["snapshot_id"])
        raise PermanentError("restic backup wrote no summary")

    def snapshots(self) -> list[Snapshot]:
        proc = self.run("snapshots", "--json", "--tag", TAG)
        rows = json.loads(proc.stdout or "[]") or []
        return [Snapshot(r["id"], r["short_id"], r["time"], tuple(r.get("tags") or ()))
                for r in rows]

    def find_snapshot(self, ref: str) -> Snapshot:
        """``latest`` or a (short) id; one-line error naming what exists."""
        snaps = self.snapshots()
        if not snaps:
            raise PermanentError(f"no backups in {self.target.repository} (inv backup)")
        if ref == "latest":
            return max(snaps, key=lambda s: s.time)
        found = [s for s in snaps if s.id.startswith(ref)]
        if len(found) != 1:
            known = ", ".join(s.short_id for s in snaps[-5:])
            raise PermanentError(f"no single snapshot {ref!r} in the repository "
                                 f"(latest: {known}; inv backup --list)")
        return found[0]

    def restore(self, snapshot: str, target: Path) -> subprocess.CompletedProcess[str]:
        """Restore into ``target`` with restic verifying each file's content afterwards."""
        return self.run("restore", snapshot, "--target", str(target), "--verify", check=False)

    def forget(self, keep_daily: int, keep_monthly: int) -> str:
        args = ["forget", "--prune", "--tag", TAG, "--keep-daily", str(keep_daily)]
        if keep_monthly:
            args += ["--keep-monthly", str(keep_monthly)]
        return last_line(self.run(*args))

    # ------------------------------------------------------------ verification

    def check(self, read_data_subset: str) -> tuple[bool, str, list[str]]:
        """Structure first (fast: a truncated pack shows as a size mismatch), then read
        back ``read_data_subset`` of the data. (ok, output, ids of the damaged packs)."""
        proc = self.run("check", check=False)
        if proc.returncode == 0 and read_data_subset not in ("", "0", "0%"):
            proc = self.run("check", f"--read-data-subset={read_data_subset}", check=False)
        text = proc.stdout + proc.stderr
        if proc.returncode == 0:
            return True, text, []
        return False, text, sorted(set(PACK_ID.findall(text)))

    def files_in_packs(self, snapshot: str, packs: list[str]) -> list[str]:
        """Paths in ``snapshot`` whose content lies in ``packs`` (from the index: a damaged
        pack cannot be read itself)."""
        blobs: list[str] = []
        for index in self.run("list", "index").stdout.split():
            data = json.loads(self.run("cat", "index", index).stdout)
            for pack in data.get("packs", []):
                if pack.get("id") in packs:
                    blobs += [b["id"] for b in pack.get("blobs", [])]
        if not blobs:
            return []
        proc = self.run("find", "--json", "--snapshot", snapshot, "--blob", *blobs,
                        check=False)
        try:
            found = json.loads(proc.stdout or "[]")
        except ValueError:
            return []
        paths = {str(row.get("path", "")).lstrip("/") for row in found if isinstance(row, dict)}
        return sorted(p for p in paths if p)


def last_line(proc: subprocess.CompletedProcess[str]) -> str:
    lines = [ln for ln in (proc.stderr or proc.stdout or "").strip().splitlines() if ln.strip()]
    return lines[-1][:300] if lines else f"exit {proc.returncode}"


def damaged_paths(restore_output: str) -> list[str]:
    """Files a ``restore --verify`` could not write or verify (restic names them)."""
    found = re.findall(r"ignoring error for (/\S+?):", restore_output)
    found += re.findall(r"(?:Verify|verify)[^/\n]*(/\S+)", restore_output)
    return sorted({p.lstrip("/") for p in found})
