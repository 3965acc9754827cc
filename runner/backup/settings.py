"""Where backups go and which key opens them: the platform spec, then the environment.

``MLGITOPS_BACKUP_REPO`` overrides ``backup.repository`` and ``MLGITOPS_BACKUP_PASSWORD_FILE``
overrides ``backup.password``, so a restore onto a wiped state directory (or a fresh
machine) needs only those two and the git checkout. A key kept under the state directory
would be wiped with everything it protects: such a backup is refused before it is written.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from runner.errors import PermanentError
from runner.spec.models import BackupSpec
from runner.state.paths import private_dir, private_opener

REPO_ENV = "MLGITOPS_BACKUP_REPO"
PASSWORD_FILE_ENV = "MLGITOPS_BACKUP_PASSWORD_FILE"  # noqa: S105 - a variable name
KEY_FIX = (f"keep the key outside it: set {PASSWORD_FILE_ENV}=~/.config/mlgitops/backup-password "
           "(or backup.password in specs/platform.yaml) and keep a copy off this machine")


@dataclass(frozen=True)
class Target:
    """A resolved backup repository: restic location, key (a file or a variable), origin."""

    repository: str
    password_file: Path | None
    password_env: str | None
    source: str  # where the settings came from, for messages: "spec" or "environment"

    @property
    def local_path(self) -> Path | None:
        """The repository folder when it is local (no ``scheme:`` prefix)."""
        if ":" in self.repository.split("/", 1)[0]:
            return None
        return Path(self.repository)

    def restic_env(self) -> dict[str, str]:
        """The variables restic reads: never the password itself when a file holds it."""
        env = {"RESTIC_REPOSITORY": self.repository}
        if self.password_file is not None:
            env["RESTIC_PASSWORD_FILE"] = str(self.password_file)
        elif self.password_env:
            value = os.environ.get(self.password_env, "")
            if not value:
                raise PermanentError(f"the backup key variable {self.password_env} is not set")
            env["RESTIC_PASSWORD"] = value
        return env


def resolve(spec: BackupSpec, root: Path) -> Target:
    """The repository and key reference, environment first (see the module docstring)."""
    repo_env = os.environ.get(REPO_ENV, "").strip()
    repository = repo_env or spec.repository
    if ":" not in repository.split("/", 1)[0]:  # a local folder: relative to the checkout
        path = Path(repository).expanduser()
        repository = str(path if path.is_absolute() else (root / path).resolve())
    key_env = os.environ.get(PASSWORD_FILE_ENV, "").strip()
    password_file: Path | None = None
    password_env: str | None = None
    if key_env:
        password_file = Path(key_env).expanduser()
    elif spec.password.file:
        password_file = Path(spec.password.file).expanduser()
    else:
        password_env = spec.password.env
    if password_file is not None and not password_file.is_absolute():
        password_file = (root / password_file).resolve()
    source = "environment" if (repo_env or key_env) else "spec"
    return Target(repository, password_file, password_env, source)


def under(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder.resolve())
    except ValueError:
        return False
    return True


def ensure_key(target: Target, state: Path) -> str:
    """Refuse a key under the state directory; create a missing key file (0600).

    Returns a note for the user when a key was created (it must be copied off the machine:
    without it the repository cannot be read).
    """
    if target.password_file is None:
        return ""
    if under(target.password_file, state):
        raise PermanentError(f"the backup key {target.password_file} lies under {state}: a "
                             f"wiped state directory would take the key with it; {KEY_FIX}")
    if target.password_file.is_file():
        return ""
    private_dir(target.password_file.parent)
    with open(target.password_file, "w", opener=private_opener) as out:
        out.write(secrets.token_urlsafe(32) + "\n")
    return (f"created the backup key {target.password_file}: copy it somewhere safe, the "
            "backups cannot be read without it")


def require_key(target: Target) -> None:
    """For reading: the key must exist (a restore never creates one)."""
    if target.password_file is not None and not target.password_file.is_file():
        raise PermanentError(f"the backup key {target.password_file} does not exist: point "
                             f"{PASSWORD_FILE_ENV} at the key the backups were written with")
