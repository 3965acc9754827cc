"""Read-only facts from the MLflow model registry, without importing mlflow.

``inv plan`` must stay well under a second, and ``import mlflow`` alone takes about 4 s.
The registry tables are read directly when the tracking URI is the sqlite file, or
through the REST API when it is a server. Writes (the ``production`` alias) go through
the mlflow client in ``runner.operations.production_alias``.
"""

from __future__ import annotations

import sqlite3
import urllib.parse
from pathlib import Path

from runner.errors import RegistryUnavailable
from runner.runtime.health import request


def unavailable(uri: str, why: str) -> RegistryUnavailable:
    """One line: which registry, why, and that nothing was changed (issue 13)."""
    return RegistryUnavailable(
        f"model registry {uri} is unreachable ({why}): nothing was changed; start MLflow "
        "(inv up) or point MLFLOW_TRACKING_URI at it, then run the command again")


def existing_versions(tracking_uri: str, wanted: set[tuple[str, int]]) -> set[tuple[str, int]]:
    """Which of the (model name, version) pairs in ``wanted`` exist in the registry."""
    if not wanted:
        return set()
    if tracking_uri.startswith("sqlite:///"):
        return _from_sqlite(Path(tracking_uri.removeprefix("sqlite:///")), wanted)
    if tracking_uri.startswith(("http://", "https://")):
        return _from_rest(tracking_uri, wanted)
    return set()


def _from_sqlite(db: Path, wanted: set[tuple[str, int]]) -> set[tuple[str, int]]:
    if not db.is_file():
        return set()
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
        try:
            rows = conn.execute(
                "SELECT name, version FROM model_versions WHERE current_stage != 'Deleted_Internal'"
            ).fetchall()
        finally:
            conn.close()
    except sqlite3.Error as exc:
        if "no such table" in str(exc):
            return set()  # no registry tables yet: nothing registered
        raise unavailable(f"sqlite:///{db}", str(exc)) from None  # unreadable, damaged
    have = {(str(n), int(v)) for n, v in rows}
    return wanted & have


def _from_rest(uri: str, wanted: set[tuple[str, int]]) -> set[tuple[str, int]]:
    parsed = urllib.parse.urlparse(uri)
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    found = set()
    for name, version in wanted:
        query = urllib.parse.urlencode({"name": name, "version": str(version)})
        status, body = request(
            port, f"/api/2.0/mlflow/model-versions/get?{query}", host=parsed.hostname or "127.0.0.1"
        )
        if status == 200 and isinstance(body, dict) and body.get("model_version"):
            found.add((name, version))
        elif status == 0 or status >= 500:  # a 404 says "no such version"; these say nothing
            raise unavailable(uri, "no answer" if status == 0 else f"HTTP {status}")
    return found


def alias_version(tracking_uri: str, model: str, alias: str) -> int | None:
    """The version an alias points at (sqlite only; None when unknown)."""
    found = alias_versions(tracking_uri, alias)
    return None if found is None else found.get(model)


def alias_versions(tracking_uri: str, alias: str) -> dict[str, int] | None:
    """Every model's version under ``alias``, in one query (sqlite only; None when unknown:
    another store, no database yet or unreadable). ``{}``: no model has the alias."""
    if not tracking_uri.startswith("sqlite:///"):
        return None
    db = Path(tracking_uri.removeprefix("sqlite:///"))
    if not db.is_file():
        return None
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
        try:
            rows = conn.execute(
                "SELECT name, version FROM registered_model_aliases WHERE alias = ?", (alias,)
            ).fetchall()
        finally:
            conn.close()
    except sqlite3.Error:
        return None
    return {str(name): int(version) for name, version in rows}
