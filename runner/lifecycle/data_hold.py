"""A retrain hold: while a service's data is known to be corrupt, nothing retrains on it.

``inv emergency data-corruption`` places the hold before it touches the data and lifts it
once a restored version validates; the retrain play's first step refuses while it is
there (``RetrainData``), so a drift alert arriving meanwhile cannot train on bad rows.
A file per service under ``<state>/holds/``: visible, survives restarts, removable by hand.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from runner.state.paths import private_dir, private_opener


def _path(state: Path, service: str) -> Path:
    return state / "holds" / f"{service}.retrain-hold.json"


def hold(state: Path, service: str, reason: str, *, actor: str) -> Path:
    """Place (or refresh) the hold; returns its file."""
    path = _path(state, service)
    private_dir(path.parent)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    with open(tmp, "w", opener=private_opener) as out:
        out.write(json.dumps({"service": service, "reason": reason, "actor": actor,
                              "at": time.time()}))
    os.replace(tmp, path)
    return path


def held(state: Path, service: str) -> str | None:
    """Why retraining ``service`` is on hold, or None."""
    path = _path(state, service)
    if not path.exists():
        return None
    try:
        return str(json.loads(path.read_text()).get("reason") or "on hold")
    except (OSError, ValueError):
        return f"on hold ({path})"


def release(state: Path, service: str) -> bool:
    """Lift the hold; whether there was one."""
    path = _path(state, service)
    existed = path.exists()
    path.unlink(missing_ok=True)
    return existed
