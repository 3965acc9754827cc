"""What goes into a backup, gathered into a staging folder with a manifest of sha256 sums.

Consistent while the services keep serving: the sqlite databases (state store, MLflow)
are copied with sqlite's online backup API (``sqlite3.Connection.backup``), which reads
one transaction-consistent image while writers go on; a plain file copy of a live
database can catch half a transaction or miss what sits in its WAL. MLflow artifacts and
DVC cache entries are written once and never changed, so copying them is safe; which
artifact folders and cache entries belong in the backup is read from the *copied*
database and the committed ``dvc.lock``/``*.dvc`` files, so the set matches the image.

Layout of a staging folder (and of every snapshot)::

    manifest.json            files with sha256 and size, git commit, databases, notes
    state/state.db           the state store (revisions, audit log)
    state/mlflow/mlflow.db   the MLflow tracking + registry database
    state/<artifact roots>   MLflow artifacts under the state directory
    dvc-cache/files/md5/..   DVC cache entries of the data versions in the specs' commit
    repo/specs.tar           specs/ and playbooks/ at the current commit (git archive)
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
import subprocess
import time
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import yaml

from runner.errors import PermanentError
from runner.spec.models import Platform

MANIFEST = "manifest.json"
FORMAT = 1
STATE_DB = "state/state.db"


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def copy_database(src: Path, dst: Path) -> str:
    """Online backup of a live sqlite database; returns its integrity check ("ok")."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    source = sqlite3.connect(src, timeout=30)
    target = sqlite3.connect(dst)
    try:
        # One step (pages=-1): a single read transaction gives one consistent image; in WAL
        # mode writers are not blocked meanwhile.
        source.backup(target)
        verdict = str(target.execute("PRAGMA integrity_check").fetchone()[0])
    finally:
        target.close()
        source.close()
    return verdict


def sqlite_path(uri: str) -> Path | None:
    """The file of a ``sqlite:///`` tracking URI, None for a server."""
    prefix = "sqlite:///"
    return Path(uri[len(prefix):]).resolve() if uri.startswith(prefix) else None


def inside(path: Path, folder: Path) -> str | None:
    """``path`` relative to ``folder`` (POSIX), None when outside."""
    try:
        return path.resolve().relative_to(folder.resolve()).as_posix()
    except ValueError:
        return None


def artifact_roots(db: Path) -> list[str]:
    """The file artifact locations of every experiment in a (copied) MLflow database."""
    con = sqlite3.connect(db)
    try:
        rows = con.execute("SELECT artifact_location FROM experiments").fetchall()
    except sqlite3.Error:
        rows = []
    finally:
        con.close()
    out = []
    for (location,) in rows:
        parsed = urlparse(str(location or ""))
        if parsed.scheme in ("", "file"):
            out.append(unquote(parsed.path) if parsed.scheme else str(location))
    return out


def gather(root: Path, platform: Platform, state: Path, tracking_uri: str,
           staging: Path) -> dict[str, Any]:
    """Fill ``staging`` (empty) and write its manifest; returns the manifest."""
    notes: list[str] = []
    databases: list[str] = []
    verdict = copy_database(state / "state.db", staging / STATE_DB) if (
        state / "state.db").is_file() else "missing"
    if verdict == "missing":
        notes.append("no state store yet")
    elif verdict != "ok":
        raise PermanentError(f"{state / 'state.db'} fails PRAGMA integrity_check: {verdict}")
    else:
        databases.append(STATE_DB)
    db = sqlite_path(tracking_uri)
    if db is None:
        notes.append("MLflow is a server: back up its database where it runs")
    elif not db.is_file():
        notes.append(f"no MLflow database at {db}")
    else:
        rel = inside(db, state)
        if rel is None:
            raise PermanentError(f"the MLflow database {db} is outside the state directory "
                                 f"{state}: restore could not put it back")
        verdict = copy_database(db, staging / "state" / rel)
        if verdict != "ok":
            raise PermanentError(f"{db} fails PRAGMA integrity_check: {verdict}")
        databases.append(f"state/{rel}")
        notes += copy_artifacts(state, staging, artifact_roots(staging / "state" / rel))
    dvc = copy_dvc_cache(root, platform, staging)
    commit = archive_specs(root, staging)
    files = {
        p.relative_to(staging).as_posix(): {"sha256": sha256(p), "size": p.stat().st_size}
        for p in sorted(staging.rglob("*")) if p.is_file()
    }
    manifest = {
        "format": FORMAT, "created_at": time.time(), "environment": platform.environment,
        "git_commit": commit, "state_dir": str(state), "databases": databases,
        "dvc": dvc, "notes": notes, "files": files,
    }
    (staging / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True))
    return manifest


def copy_artifacts(state: Path, staging: Path, roots: list[str]) -> list[str]:
    """Copy every artifact root under the state directory; notes for the others."""
    notes: list[str] = []
    rels = {"mlflow/artifacts"} if (state / "mlflow" / "artifacts").is_dir() else set()
    for raw in roots:
        rel = inside(Path(raw), state)
        if rel is None:
            notes.append(f"artifacts outside the state directory not backed up: {raw}")
        elif (state / rel).is_dir():
            rels.add(rel)
    # A root inside another root is copied with it.
    for rel in sorted(r for r in rels if not any(r.startswith(o + "/") for o in rels)):
        shutil.copytree(state / rel, staging / "state" / rel, dirs_exist_ok=True)
    return notes


def dvc_outs(root: Path, platform: Platform) -> list[dict[str, str]]:
    """The cached outputs the projects' dvc.lock and *.dvc files pin: path and md5."""
    outs: list[dict[str, str]] = []
    for project in sorted({svc.project for svc in platform.services.values()}):
        outs += project_outs(root, root / project)
    return outs


def project_outs(root: Path, folder: Path) -> list[dict[str, str]]:
    """One project's cached outputs (dvc.lock stages and *.dvc files): path and md5."""
    uncached = uncached_outs(folder)
    docs: list[tuple[Path, Any]] = []
    lock = folder / "dvc.lock"
    if lock.is_file():
        data = yaml.safe_load(lock.read_text()) or {}
        for stage in (data.get("stages") or {}).values():
            docs += [(folder, o) for o in stage.get("outs") or []]
    for dvcfile in sorted(folder.rglob("*.dvc")):
        data = yaml.safe_load(dvcfile.read_text()) or {}
        docs += [(dvcfile.parent, o) for o in data.get("outs") or []]
    outs = []
    for base, out in docs:
        if isinstance(out, dict) and out.get("md5") and out.get("cache", True):
            path = (base / str(out["path"])).resolve()
            if path not in uncached:
                outs.append({"path": inside(path, root) or str(path), "md5": str(out["md5"])})
    return outs


def uncached_outs(folder: Path) -> set[Path]:
    """Outputs dvc.yaml marks ``cache: false`` (kept in git, never in the cache); dvc.lock
    does not repeat the flag."""
    path = folder / "dvc.yaml"
    data = yaml.safe_load(path.read_text()) if path.is_file() else None
    found: set[Path] = set()
    for stage in ((data or {}).get("stages") or {}).values():
        for out in (stage or {}).get("outs") or []:
            if isinstance(out, dict):
                for name, opts in out.items():
                    if isinstance(opts, dict) and opts.get("cache") is False:
                        found.add((folder / str(name)).resolve())
    return found


def cache_file(cache: Path, md5: str) -> Path:
    return cache / "files" / "md5" / md5[:2] / md5[2:]


def copy_dvc_cache(root: Path, platform: Platform, staging: Path) -> dict[str, Any]:
    """Copy the cache entries of the pinned data versions (directory listings included)."""
    cache = root / ".dvc" / "cache"
    outs = dvc_outs(root, platform)
    missing: list[str] = []
    wanted = [(o["md5"], root / o["path"], o["path"]) for o in outs]
    while wanted:
        md5, workspace, label = wanted.pop()
        src = cache_file(cache, md5)
        if not src.is_file() and not md5.endswith(".dir") and workspace.is_file() and (
                hashlib.md5(workspace.read_bytes(), usedforsecurity=False).hexdigest() == md5):  # noqa: S324 - DVC's
            src = workspace  # in the workspace but not (or no longer) in the cache
        if not src.is_file():
            missing.append(label)
            continue
        dst = cache_file(staging / "dvc-cache", md5)
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dst)
        if md5.endswith(".dir"):  # a directory output: its listing names the files
            for entry in json.loads(src.read_text()):
                wanted.append((entry["md5"], workspace / entry["relpath"],
                               f"{label}/{entry['relpath']}"))
    return {"cache_dir": ".dvc/cache", "outs": outs, "missing": sorted(missing)}


def archive_specs(root: Path, staging: Path) -> str:
    """specs/ and playbooks/ at HEAD into repo/specs.tar; the commit id ("" outside git)."""
    out = staging / "repo" / "specs.tar"
    out.parent.mkdir(parents=True, exist_ok=True)
    head = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"],  # noqa: S607
                          capture_output=True, text=True, check=False)
    if head.returncode == 0:
        commit = head.stdout.strip()
        paths = [p for p in ("specs", "playbooks") if (root / p).is_dir()]
        subprocess.run(["git", "-C", str(root), "archive", "--format=tar",  # noqa: S607
                        f"--output={out}", commit, "--", *paths], check=True,
                       capture_output=True)
        return commit
    import tarfile

    with tarfile.open(out, "w") as tar:
        tar.add(root / "specs", arcname="specs")
    return ""
