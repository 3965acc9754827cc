"""Where the repository and the runtime state live (environment overrides first).

``MLGITOPS_ROOT`` names the repository, ``MLGITOPS_STATE_DIR`` the state directory
(else ``<root>/.state``); tests point both at temporary directories.
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
    path = path.resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


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
