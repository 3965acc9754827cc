"""Where the repository and its runtime state are: the one rule every entry point uses.

``MLGITOPS_ROOT`` names the repository; else the nearest directory at or above ``start``
(the working directory by default) that holds ``specs/platform.yaml``; else the nearest
holding ``.dvc`` or ``.git`` (a DVC stage running inside a project folder of a checkout
without specs); else ``start`` itself.

``MLGITOPS_STATE_DIR`` names the state directory; else the platform spec's ``state_dir``
(relative to the root), read straight from ``specs/platform.yaml`` so that processes which
never load the whole spec (DVC stages, replicas, the playbook CLI) agree with those that do.
A leaf: imports nothing of ours and nothing heavy, so the CLI's start-up path can use it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

DEFAULT_STATE_DIR = ".state"
_STATE_DIR_LINE = re.compile(r"^state_dir:[ \t]*(\S[^\r\n]*)$", re.MULTILINE)


def repo_root(start: Path | None = None, env: Mapping[str, str] | None = None) -> Path:
    """The repository root (see the module docstring for the rule)."""
    env = os.environ if env is None else env
    if env.get("MLGITOPS_ROOT"):
        return Path(env["MLGITOPS_ROOT"]).resolve()
    here = (start or Path.cwd()).resolve()
    chain = (here, *here.parents)
    for candidate in chain:
        if (candidate / "specs" / "platform.yaml").is_file():
            return candidate
    for candidate in chain:
        if (candidate / ".dvc").is_dir() or (candidate / ".git").exists():
            return candidate
    return here


def configured_state_dir(root: Path) -> str:
    """The top-level ``state_dir:`` of ``<root>/specs/platform.yaml`` (default ``.state``).

    Read as one line, not parsed as YAML: this runs before the spec is validated (which
    refuses anchors, aliases and a non-string ``state_dir`` with their positions), so a
    broken or hostile spec cannot cost more than reading one small file here."""
    try:
        text = (root / "specs" / "platform.yaml").read_text(errors="replace")
    except OSError:
        return DEFAULT_STATE_DIR
    found = _STATE_DIR_LINE.search(text)
    if not found:
        return DEFAULT_STATE_DIR
    value = found.group(1).split(" #", 1)[0].strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        value = value[1:-1]
    return value or DEFAULT_STATE_DIR


def state_path(root: Path | None = None, configured: str | None = None,
               env: Mapping[str, str] | None = None) -> Path:
    """The state directory as an absolute path (not created: ``private_dir`` makes it).
    ``configured`` is the spec's ``state_dir`` when the caller has
    the loaded spec; None reads it from ``specs/platform.yaml``."""
    env = os.environ if env is None else env
    if env.get("MLGITOPS_STATE_DIR"):
        return Path(env["MLGITOPS_STATE_DIR"]).resolve()
    base = root or repo_root(env=env)
    path = Path(configured if configured is not None else configured_state_dir(base))
    return (path if path.is_absolute() else base / path).resolve()


def private_dir(path: Path) -> Path:
    """``path`` created if missing and made 0700 (an existing 0755 one is tightened)."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        if path.stat().st_mode & 0o077:
            path.chmod(0o700)
    except PermissionError:  # not ours (a shared mount): leave it as its owner set it
        pass
    return path


def cache_dir(root: Path) -> Path | None:
    """Where ``inv render`` and ``inv validate`` keep their caches (parsed specs, cron
    verdicts, what render wrote), inside the private state directory; None when it cannot be
    made: a read-only checkout works without caches. Here rather than in ``runner.state``:
    importing that package opens sqlite, 30 ms of a render's start-up."""
    try:
        return private_dir(private_dir(state_path(root)) / "cache")
    except OSError:
        return None
