"""Where the repository and the runtime state live (environment overrides first).

``MLGITOPS_ROOT`` names the repository, ``MLGITOPS_STATE_DIR`` the state directory
(else ``<root>/.state``); tests point both at temporary directories.

The state directory holds the audit log, prediction logs (customer data) and secrets, so
it is private: the directory 0700, files 0600 (``private_dir``, ``private_opener``), and
children that write there run with ``PRIVATE_UMASK``.
"""

from __future__ import annotations

import os
from pathlib import Path


def repo_root() -> Path:
    """The repository root: ``MLGITOPS_ROOT``, else the nearest parent holding ``specs/``."""
    env = os.environ.get("MLGITOPS_ROOT")
    if env:
        return Path(env).resolve()
    here = Path.cwd().resolve()
    for candidate in (here, *here.parents):
        if (candidate / "specs" / "platform.yaml").is_file():
            return candidate
    return here


def state_dir(root: Path | None = None, configured: str = ".state") -> Path:
    """The state directory: ``MLGITOPS_STATE_DIR``, else ``configured`` under the root."""
    env = os.environ.get("MLGITOPS_STATE_DIR")
    if env:
        path = Path(env)
    else:
        path = Path(configured)
        if not path.is_absolute():
            path = (root or repo_root()) / path
    return private_dir(path.resolve())


PRIVATE_UMASK = 0o077  # for child processes writing under the state directory


def private_dir(path: Path) -> Path:
    """``path`` created if missing and made 0700 (an existing 0755 one is tightened)."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        if path.stat().st_mode & 0o077:
            path.chmod(0o700)
    except PermissionError:  # not ours (a shared mount): leave it as its owner set it
        pass
    return path


def private_opener(path: str, flags: int) -> int:
    """``open(..., opener=private_opener)``: a file this creates is 0600 whatever the umask."""
    return os.open(path, flags, 0o600)


def make_private(path: Path) -> None:
    """Make an existing file 0600 (files created before the state directory was private)."""
    try:
        if path.stat().st_mode & 0o077:
            path.chmod(0o600)
    except OSError:
        pass


def tracking_uri(state: Path) -> str:
    """The MLflow tracking URI: ``MLFLOW_TRACKING_URI``, else the sqlite file under state."""
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{state / 'mlflow' / 'mlflow.db'}"


def actor() -> str:
    """Who is acting, for revisions and the audit log: ``MLGITOPS_ACTOR`` (CI) or the user."""
    env = os.environ.get("MLGITOPS_ACTOR")
    if env:
        return env
    try:
        import getpass

        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid{os.getuid()}"
