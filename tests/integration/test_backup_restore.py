"""Backup and restore end to end (issue 11 item 3), with real restic, a real MLflow sqlite
registry, real DVC data and a real replica serving under load.

One module-scoped platform, driven in order: a backup under ~100 req/s, then `inv down`,
a wiped state directory, a restore that reconciles; then snapshots damaged three ways are
refused with the file named and the state directory untouched.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from reconcile_fixtures import (
    REPO,
    Load,
    free_port,
    git,
    make_repo,
    model_version,
    register_models,
    sample_body,
    set_version,
)

from runner.backup import SnapshotRefused
from runner.backup.commands import backup_command, restore_command
from runner.backup.restic import Restic
from runner.backup.settings import resolve
from runner.commands.converge import reconcile_command
from runner.commands.platform_up import down_command
from runner.errors import PermanentError
from runner.operations import open_env

pytestmark = [pytest.mark.integration, pytest.mark.slow]
DATA = "projects/bankchurn/data/raw/Churn.csv"
ENV_KEYS = ("MLGITOPS_ROOT", "MLGITOPS_STATE_DIR", "MLFLOW_TRACKING_URI",
            "MLGITOPS_BACKUP_REPO", "MLGITOPS_BACKUP_PASSWORD_FILE")


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def add_dvc_data(root: Path) -> None:
    """The project's raw data as its pipeline's generate stage output, in the DVC cache and
    pinned in dvc.lock (``dvc commit``), committed like a project's."""
    dvc = str(REPO / ".venv" / "bin" / "dvc")
    subprocess.run([dvc, "init", "-q"], cwd=root, check=True, capture_output=True)
    data = root / DATA
    data.parent.mkdir(parents=True, exist_ok=True)
    data.write_text("".join(f"{i},{i * 7 % 13},{i % 2}\n" for i in range(5000)))
    subprocess.run([dvc, "commit", "-f", "-q", "projects/bankchurn/dvc.yaml:generate"],
                   cwd=root, check=True, capture_output=True)
    git(root, "add", ".dvc", "projects/bankchurn/dvc.lock")
    git(root, "commit", "-q", "-m", "data")


def registry_view(uri: str) -> dict:
    """Models, versions (run, source, status), aliases and run metrics: what must survive."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    out: dict = {}
    for model in client.search_registered_models():
        versions = sorted(client.search_model_versions(f"name='{model.name}'"),
                          key=lambda v: int(v.version))
        out[model.name] = {
            "aliases": dict(sorted(model.aliases.items())),
            "versions": [(v.version, v.run_id, v.source, v.status,
                          sorted(client.get_run(v.run_id).data.metrics.items()) if v.run_id
                          else []) for v in versions],
        }
    return out


def audit_rows(db: Path) -> list[tuple]:
    con = sqlite3.connect(db)
    try:
        return con.execute("SELECT id, at, actor, action, service, outcome, detail FROM audit "
                           "ORDER BY id").fetchall()
    finally:
        con.close()


def revision_rows(db: Path) -> list[tuple]:
    con = sqlite3.connect(db)
    try:
        return con.execute("SELECT * FROM revisions ORDER BY id").fetchall()
    finally:
        con.close()


def integrity(db: Path) -> str:
    con = sqlite3.connect(db)
    try:
        return str(con.execute("PRAGMA integrity_check").fetchone()[0])
    finally:
        con.close()


def artifact_sums(state: Path) -> dict[str, str]:
    return {p.relative_to(state).as_posix(): sha(p) for p in sorted(state.rglob("*"))
            if p.is_file() and p.relative_to(state).parts[0] in ("mlruns", "mlflow")
            and not p.name.startswith("mlflow.db")}


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    tmp = tmp_path_factory.mktemp("backup")
    port = free_port()
    root = make_repo(tmp, port=port)
    set_version(root, 2)
    add_dvc_data(root)
    state = tmp / "state"
    uri = register_models(state)
    saved = {k: os.environ.get(k) for k in ENV_KEYS}
    os.environ.update(MLGITOPS_ROOT=str(root), MLGITOPS_STATE_DIR=str(state),
                      MLFLOW_TRACKING_URI=uri, MLGITOPS_BACKUP_REPO=str(tmp / "offsite"),
                      MLGITOPS_BACKUP_PASSWORD_FILE=str(tmp / "keys" / "backup-password"))
    try:
        yield {"root": root, "state": state, "port": port, "uri": uri, "tmp": tmp}
    finally:
        open_env(root, quiet=True).runtime.remove("bankchurn")
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def test_backup_under_load_wipe_restore_brings_everything_back(platform, capsys):
    root, state, port, uri = platform["root"], platform["state"], platform["port"], platform["uri"]
    assert reconcile_command() == 0
    assert model_version(port) == "2"
    with Load(port, sample_body(), rate=100, keepalive=True) as load:
        time.sleep(1)
        began = time.monotonic()
        assert backup_command() == 0
        backup_s = time.monotonic() - began
        time.sleep(1)
    assert load.sent >= 100 and load.failed == 0, load.errors[:5]
    print(f"backup under load: {backup_s:.1f}s, {load.sent} requests, 0 failed")
    out = capsys.readouterr().out
    assert "databases state/state.db, state/mlflow/mlflow.db" in out, out
    registry = registry_view(uri)
    assert registry["bankchurn-model"]["aliases"] == {"production": 2}
    revisions, audit = revision_rows(state / "state.db"), audit_rows(state / "state.db")
    artifacts, data = artifact_sums(state), sha(root / DATA)
    assert artifacts

    assert down_command() == 0
    shutil.rmtree(state)  # the state directory is gone, and so is the local data
    shutil.rmtree(root / ".dvc" / "cache")
    (root / DATA).unlink()

    assert restore_command("latest") == 0
    assert model_version(port) == "2"  # the reconcile after the restore serves v2 again
    for db in (state / "state.db", state / "mlflow" / "mlflow.db"):
        assert integrity(db) == "ok"
    assert registry_view(uri) == registry
    assert artifact_sums(state) == artifacts
    assert sha(root / DATA) == data
    restored_audit = audit_rows(state / "state.db")
    # The restored log is the live log up to the snapshot; after it came only the backup's
    # own event (read before `inv down`); then the restore and its reconcile append.
    cut = next(i for i, row in enumerate(audit) if row[3] == "backup")
    assert restored_audit[:cut] == audit[:cut]
    assert [r[3] for r in audit[cut:]] == ["backup"]
    assert restored_audit[cut][3] == "restore"
    assert revision_rows(state / "state.db")[: len(revisions)] == revisions


def _pack_of(restic: Restic, snapshot: str, wanted: str) -> Path:
    """The data pack file holding ``wanted``'s content (from the index)."""
    import json

    repo = Path(restic.target.repository)
    for index in restic.run("list", "index").stdout.split():
        for pack in json.loads(restic.run("cat", "index", index).stdout)["packs"]:
            if wanted in restic.files_in_packs(snapshot, [pack["id"]]):
                return repo / "data" / pack["id"][:2] / pack["id"]
    raise AssertionError(f"no pack holds {wanted}")


def _state_sums(state: Path) -> dict[str, str]:
    keep = ("state.db", "mlflow", "mlruns")
    return {p.relative_to(state).as_posix(): sha(p) for p in sorted(state.rglob("*"))
            if p.is_file() and p.relative_to(state).parts[0] in keep
            and not p.name.endswith(("-wal", "-shm"))}


@pytest.mark.parametrize("damage", ["flipped-byte", "truncated-pack", "truncated-file",
                                    "missing-file"])
def test_damaged_snapshot_is_refused_naming_the_file(platform, damage, tmp_path, monkeypatch):
    state, tmp = platform["state"], platform["tmp"]
    copy = tmp_path / "offsite"
    shutil.copytree(tmp / "offsite", copy)
    monkeypatch.setenv("MLGITOPS_BACKUP_REPO", str(copy))
    env = open_env(platform["root"], quiet=True)
    restic = Restic(resolve(env.platform.platform.backup, env.root))
    snapshot = restic.find_snapshot("latest").id
    if damage in ("flipped-byte", "truncated-pack"):
        pack = _pack_of(restic, snapshot, "state/state.db")
        pack.chmod(0o600)
        raw = bytearray(pack.read_bytes())
        if damage == "flipped-byte":
            raw[len(raw) // 2] ^= 0x01
        else:
            raw = raw[: len(raw) // 2]
        pack.write_bytes(bytes(raw))
        expect = "state/state.db"
    else:  # a snapshot restic finds intact but whose content no longer matches its manifest
        work = tmp_path / "work"
        assert restic.restore(snapshot, work).returncode == 0
        victim = work / "state" / "mlflow" / "mlflow.db"
        if damage == "truncated-file":
            victim.write_bytes(victim.read_bytes()[:4096])
        else:
            victim.unlink()
        restic.backup(work, ["tampered"])
        expect = "state/mlflow/mlflow.db"
    before = _state_sums(state)
    began = time.monotonic()
    with pytest.raises(SnapshotRefused) as refused:
        restore_command("latest")
    message = refused.value.one_line()
    assert expect in message and "nothing restored" in message, message
    assert time.monotonic() - began < 30
    assert _state_sums(state) == before  # nothing under .state/ was overwritten
    assert not list((state / "backups").glob("restore-*"))  # the staging folder is gone


def test_backup_refuses_a_key_under_the_state_directory(platform, monkeypatch):
    key = platform["state"] / "backup-password"
    monkeypatch.setenv("MLGITOPS_BACKUP_PASSWORD_FILE", str(key))
    with pytest.raises(PermanentError, match="lies under .*MLGITOPS_BACKUP_PASSWORD_FILE"):
        backup_command()
    assert not key.exists()
