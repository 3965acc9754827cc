"""Where backups go and which key opens them: spec defaults, environment overrides, the
key refused under the state directory, escalation routes that must name real sinks."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from runner.backup import settings
from runner.errors import PermanentError
from runner.spec.models import BackupSpec, PlatformSpec


def test_spec_default_and_environment_overrides(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv(settings.REPO_ENV, raising=False)
    monkeypatch.delenv(settings.PASSWORD_FILE_ENV, raising=False)
    target = settings.resolve(BackupSpec(), tmp_path)
    assert target.repository == str(tmp_path / ".state" / "backups" / "restic")
    assert target.password_file == Path("~/.config/mlgitops/backup-password").expanduser()
    assert target.source == "spec"
    monkeypatch.setenv(settings.REPO_ENV, "s3:https://objects.example.invalid/bucket/mlgitops")
    monkeypatch.setenv(settings.PASSWORD_FILE_ENV, str(tmp_path / "key"))
    target = settings.resolve(BackupSpec(), tmp_path)
    assert target.local_path is None and target.repository.startswith("s3:")
    assert target.restic_env() == {"RESTIC_REPOSITORY": target.repository,
                                   "RESTIC_PASSWORD_FILE": str(tmp_path / "key")}
    assert target.source == "environment"


def test_key_under_state_is_refused_and_a_missing_key_is_created_private(tmp_path: Path,
                                                                        monkeypatch) -> None:
    state = tmp_path / ".state"
    monkeypatch.setenv(settings.PASSWORD_FILE_ENV, str(state / "key"))
    with pytest.raises(PermanentError, match="lies under"):
        settings.ensure_key(settings.resolve(BackupSpec(), tmp_path), state)
    assert not (state / "key").exists()
    monkeypatch.setenv(settings.PASSWORD_FILE_ENV, str(tmp_path / "keys" / "key"))
    target = settings.resolve(BackupSpec(), tmp_path)
    with pytest.raises(PermanentError, match="does not exist"):
        settings.require_key(target)  # a restore never invents a key
    assert "created the backup key" in settings.ensure_key(target, state)
    assert (tmp_path / "keys" / "key").stat().st_mode & 0o077 == 0
    assert settings.ensure_key(target, state) == ""  # kept, never replaced


def test_password_by_variable_must_be_set(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv(settings.PASSWORD_FILE_ENV, raising=False)
    spec = BackupSpec(password={"env": "BACKUP_KEY_FOR_TEST"})
    monkeypatch.delenv("BACKUP_KEY_FOR_TEST", raising=False)
    with pytest.raises(PermanentError, match="BACKUP_KEY_FOR_TEST is not set"):
        settings.resolve(spec, tmp_path).restic_env()


def test_escalation_routes_must_name_sinks() -> None:
    with pytest.raises(ValidationError, match="routes to 'pager'"):
        PlatformSpec.model_validate({
            "monitoring": {"grafana": {"port": 3000, "admin_password": {"env": "G"}}},
            "notifications": [{"name": "log", "type": "file", "path": "x.jsonl"}],
            "escalation": [{"name": "P0", "response_min": 15, "routes": ["pager"]}],
        })
