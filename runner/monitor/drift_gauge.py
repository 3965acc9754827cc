"""The drift gauge: the latest drifted-column share per service, kept under the state dir.

The drift check (a playbook task, or ``inv drift``) runs in its own short process while
the exporter runs for days, so the value is handed over through a small JSON file
(``<state>/monitor/drift.json``) rather than process memory. Writes take a file lock and
replace the file atomically, so a scrape never reads half a file and two writers never
lose each other's service.
"""

from __future__ import annotations

import fcntl
import json
import math
import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from runner.errors import PermanentError
from runner.state.paths import state_dir

FILE_NAME = "drift.json"


def _path(state: Path | None) -> Path:
    folder = (state or state_dir()) / "monitor"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / FILE_NAME


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    with open(path.with_suffix(".lock"), "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def set(service: str, share: float, *, state: Path | None = None) -> None:  # noqa: A001
    """Record ``share`` (0..1) as the current drift of ``service``; the exporter serves it."""
    if not isinstance(share, int | float) or math.isnan(share) or not 0.0 <= share <= 1.0:
        raise PermanentError(f"drift share for {service} must be between 0 and 1, got {share!r}")
    path = _path(state)
    with _locked(path):
        values = _read(path)
        values[service] = {"share": float(share), "at": time.time()}
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".drift-", suffix=".json")
        with os.fdopen(fd, "w") as out:
            json.dump(values, out, sort_keys=True)
        os.replace(tmp, path)


def get_all(*, state: Path | None = None) -> dict[str, float]:
    """Every recorded drift share by service (empty when nothing was measured yet)."""
    return {name: entry["share"] for name, entry in _read(_path(state)).items()}


def _read(path: Path) -> dict[str, dict[str, float]]:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except ValueError:
        # A hand-edited or truncated file must not take the exporter down: start afresh.
        return {}
    if not isinstance(data, dict):
        return {}
    return {
        str(k): v
        for k, v in data.items()
        if isinstance(v, dict) and isinstance(v.get("share"), int | float)
    }
