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

from runner import locations
from runner.locations import cache_dir as cache_dir  # re-exported: callers of the state
from runner.locations import private_dir as private_dir  # look for them here


def repo_root() -> Path:
    """The repository root (``runner.locations.repo_root``: one rule everywhere)."""
    return locations.repo_root()


def state_dir(root: Path | None = None, configured: str | None = None) -> Path:
    """The state directory, created private: ``MLGITOPS_STATE_DIR``, else the spec's
    ``state_dir`` (``configured`` if the caller loaded the spec) under the root."""
    return private_dir(locations.state_path(root, configured))


PRIVATE_UMASK = 0o077  # for child processes writing under the state directory


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

