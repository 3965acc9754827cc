"""Database maintenance of the state store and the MLflow database, online-safe.

``PRAGMA integrity_check`` first (a damaged database is reported and left alone), then
``ANALYZE`` (fresh planner statistics), ``VACUUM`` (returns free pages) and a WAL
checkpoint. Each statement is one short transaction that waits for writers
(``busy_timeout``) rather than failing: services and the monitor keep writing meanwhile.
Check mode runs only the read-only integrity check.
"""

from __future__ import annotations

import sqlite3
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

BUSY_TIMEOUT_MS = 30_000


@dataclass(frozen=True)
class Upkeep:
    path: str
    integrity: str
    size_before: int
    size_after: int
    done: bool

    @property
    def ok(self) -> bool:
        return self.integrity == "ok"

    def line(self) -> str:
        name = Path(self.path).name
        if not self.ok:
            return f"{name}: integrity check FAILED ({self.integrity}); left as it is"
        if not self.done:
            return f"{name}: integrity ok, {self.size_before} bytes; would ANALYZE and VACUUM"
        return (f"{name}: integrity ok, ANALYZE + VACUUM, {self.size_before} -> "
                f"{self.size_after} bytes")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in (path, path.with_name(path.name + "-wal"))
               if p.exists())


def sqlite_path(uri: str) -> Path | None:
    """The file of a ``sqlite:///`` URI (MLflow's), None for anything else."""
    return Path(uri.removeprefix("sqlite:///")) if uri.startswith("sqlite:///") else None


def upkeep(path: Path, *, check_mode: bool = False) -> Upkeep:
    """Check one sqlite database and, unless ``check_mode``, analyze and vacuum it."""
    before = _size(path)
    # isolation_level=None: no implicit transaction around VACUUM (it refuses to run in one).
    db = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
    try:
        db.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        try:
            rows = [str(r[0]) for r in db.execute("PRAGMA integrity_check")]
        except sqlite3.DatabaseError as exc:  # too damaged to even check
            rows = [f"{type(exc).__name__}: {exc}"]
        integrity = "ok" if rows == ["ok"] else "; ".join(rows[:3])
        if integrity != "ok" or check_mode:
            return Upkeep(str(path), integrity, before, before, False)
        db.execute("ANALYZE")
        db.execute("VACUUM")
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        db.close()
    return Upkeep(str(path), integrity, before, _size(path), True)
