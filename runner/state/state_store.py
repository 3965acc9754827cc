"""The state store: per-service revisions and an append-only audit log in one sqlite file.

sqlite because it is in the standard library, survives a killed runner (every write is a
transaction) and lets two runner processes coordinate (the apply lock lives here too).
The audit table refuses UPDATE and DELETE by trigger: history is only ever appended.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runner.errors import StateCorrupt
from runner.state.paths import make_private, private_dir, private_opener

SCHEMA = """
CREATE TABLE IF NOT EXISTS revisions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    service TEXT NOT NULL,
    number INTEGER NOT NULL,
    spec_hash TEXT NOT NULL,
    model_name TEXT NOT NULL,
    model_version INTEGER NOT NULL,
    image TEXT NOT NULL DEFAULT '',
    git_commit TEXT NOT NULL DEFAULT '',
    created_at REAL NOT NULL,
    actor TEXT NOT NULL,
    reason TEXT NOT NULL DEFAULT '',
    outcome TEXT NOT NULL,
    spec_json TEXT NOT NULL DEFAULT '{}',
    UNIQUE (service, number)
);
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at REAL NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    service TEXT NOT NULL DEFAULT '',
    outcome TEXT NOT NULL DEFAULT '',
    detail TEXT NOT NULL DEFAULT '{}'
);
CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit
BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit
BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;
CREATE TABLE IF NOT EXISTS crashloop (
    service TEXT PRIMARY KEY,
    spec_hash TEXT NOT NULL,
    model_version INTEGER NOT NULL,
    failures INTEGER NOT NULL,
    last_at REAL NOT NULL,
    held INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS lock (
    name TEXT PRIMARY KEY,
    holder_pid INTEGER NOT NULL,
    holder_start INTEGER,
    holder_host TEXT NOT NULL,
    holder_cmd TEXT NOT NULL,
    acquired_at REAL NOT NULL,
    lease_until REAL NOT NULL
);
"""

# Outcomes a revision can end with. Only "success" revisions are rollback targets.
SUCCESS = "success"
FAILED = "failed"
ROLLED_BACK = "rolled_back"


@dataclass(frozen=True)
class Revision:
    service: str
    number: int
    spec_hash: str
    model_name: str
    model_version: int
    image: str
    git_commit: str
    created_at: float
    actor: str
    reason: str
    outcome: str
    spec: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        out = dict(self.__dict__)
        out.pop("spec")
        return out


@dataclass(frozen=True)
class AuditEvent:
    id: int
    at: float
    actor: str
    action: str
    service: str
    outcome: str
    detail: dict[str, Any]


class StateStore:
    """Revisions, audit log and apply lock of one state directory (``<state>/state.db``)."""

    def __init__(self, state: Path) -> None:
        private_dir(state)
        self.path = state / "state.db"
        if not self.path.exists():  # sqlite creates it with the umask's mode: 0600 first
            os.close(private_opener(str(self.path), os.O_CREAT | os.O_WRONLY))
        self._db = sqlite3.connect(self.path, timeout=10, isolation_level=None)
        try:
            self._db.row_factory = sqlite3.Row
            self._db.execute("PRAGMA busy_timeout=10000")
            check_sound(self._db)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.executescript(SCHEMA)
        except sqlite3.DatabaseError as exc:  # garbage, truncated, a page that fails checks
            self._db.close()
            raise corrupt(self.path, str(exc)) from None
        # sqlite gives the -wal and -shm files the database file's mode.
        for path in (self.path, self.path.with_name("state.db-wal"),
                     self.path.with_name("state.db-shm")):
            make_private(path)

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE: take the write lock up front so read-then-write is atomic."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # ------------------------------------------------------------------ revisions

    def add_revision(
        self,
        service: str,
        *,
        spec_hash: str,
        model_name: str,
        model_version: int,
        actor: str,
        reason: str,
        outcome: str,
        image: str = "",
        git_commit: str = "",
        spec: dict[str, Any] | None = None,
    ) -> Revision:
        """Append the next revision of ``service`` (numbers start at 1, never reused)."""
        with self.transaction() as db:
            row = db.execute(
                "SELECT COALESCE(MAX(number), 0) FROM revisions WHERE service = ?", (service,)
            ).fetchone()
            number = int(row[0]) + 1
            db.execute(
                "INSERT INTO revisions (service, number, spec_hash, model_name, model_version,"
                " image, git_commit, created_at, actor, reason, outcome, spec_json)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    service, number, spec_hash, model_name, int(model_version), image,
                    git_commit, time.time(), actor, reason, outcome,
                    json.dumps(spec or {}, sort_keys=True),
                ),
            )
        found = self.revision(service, number)
        assert found is not None
        return found

    def set_outcome(self, service: str, number: int, outcome: str) -> None:
        """Mark a revision (e.g. the one a rollback left) as rolled_back or failed."""
        self._db.execute(
            "UPDATE revisions SET outcome = ? WHERE service = ? AND number = ?",
            (outcome, service, number),
        )

    def revisions(self, service: str) -> list[Revision]:
        """All revisions of ``service``, oldest first."""
        rows = self._db.execute(
            "SELECT * FROM revisions WHERE service = ? ORDER BY number", (service,)
        ).fetchall()
        return [_revision(r) for r in rows]

    def revision(self, service: str, number: int) -> Revision | None:
        row = self._db.execute(
            "SELECT * FROM revisions WHERE service = ? AND number = ?", (service, number)
        ).fetchone()
        return _revision(row) if row else None

    def current(self, service: str) -> Revision | None:
        """The latest successful revision: what should be serving."""
        row = self._db.execute(
            "SELECT * FROM revisions WHERE service = ? AND outcome = ? "
            "ORDER BY number DESC LIMIT 1",
            (service, SUCCESS),
        ).fetchone()
        return _revision(row) if row else None

    def current_all(self) -> dict[str, Revision]:
        """The latest successful revision of every service, in one query (plan speed)."""
        rows = self._db.execute(
            "SELECT r.* FROM revisions r JOIN (SELECT service, MAX(number) AS n FROM revisions"
            " WHERE outcome = ? GROUP BY service) m ON r.service = m.service AND r.number = m.n",
            (SUCCESS,),
        ).fetchall()
        return {r["service"]: _revision(r) for r in rows}

    def previous(self, service: str, before: int) -> Revision | None:
        """The newest successful revision older than ``before`` with a different model/spec."""
        cur = self.revision(service, before)
        for rev in reversed(self.revisions(service)):
            if rev.number >= before or rev.outcome != SUCCESS:
                continue
            if cur is None or (rev.spec_hash, rev.model_version) != (
                cur.spec_hash,
                cur.model_version,
            ):
                return rev
        return None

    def services(self) -> list[str]:
        rows = self._db.execute("SELECT DISTINCT service FROM revisions ORDER BY service")
        return [r[0] for r in rows]

    # ------------------------------------------------------------------ audit log

    def audit(
        self,
        action: str,
        *,
        actor: str,
        service: str = "",
        outcome: str = "",
        **detail: Any,
    ) -> None:
        """Append one event; never updated or deleted afterwards (enforced by trigger)."""
        self._db.execute(
            "INSERT INTO audit (at, actor, action, service, outcome, detail)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (time.time(), actor, action, service, outcome, json.dumps(detail, default=str)),
        )

    def events(self, service: str | None = None, limit: int = 1000) -> list[AuditEvent]:
        """Audit events, oldest first (optionally of one service)."""
        if service is None:
            rows = self._db.execute(
                "SELECT * FROM (SELECT * FROM audit ORDER BY id DESC LIMIT ?) ORDER BY id",
                (limit,),
            )
        else:
            rows = self._db.execute(
                "SELECT * FROM (SELECT * FROM audit WHERE service = ? ORDER BY id DESC LIMIT ?)"
                " ORDER BY id",
                (service, limit),
            )
        return [
            AuditEvent(
                id=r["id"], at=r["at"], actor=r["actor"], action=r["action"],
                service=r["service"], outcome=r["outcome"], detail=json.loads(r["detail"]),
            )
            for r in rows
        ]

    @property
    def db(self) -> sqlite3.Connection:
        return self._db


def check_sound(db: sqlite3.Connection) -> None:
    """``PRAGMA quick_check`` (O(pages), no index cross-check: milliseconds on our stores);
    raises sqlite3.DatabaseError naming the first problem. A file that is not a database
    at all fails earlier, in the pragma itself."""
    rows = [str(r[0]) for r in db.execute("PRAGMA quick_check").fetchall()]
    if rows != ["ok"]:
        raise sqlite3.DatabaseError("; ".join(rows[:2])[:200])


def corrupt(path: Path, detail: str) -> StateCorrupt:
    """The one-line report of a damaged store, with both ways out."""
    return StateCorrupt(
        f"state store {path} is corrupted ({detail}): restore it with `inv restore latest`, "
        f"or move it aside to start a fresh store (`mv {path} {path}.corrupt`; revision "
        "history and audit log start empty)")


def _revision(row: sqlite3.Row) -> Revision:
    return Revision(
        service=row["service"], number=row["number"], spec_hash=row["spec_hash"],
        model_name=row["model_name"], model_version=row["model_version"], image=row["image"],
        git_commit=row["git_commit"], created_at=row["created_at"], actor=row["actor"],
        reason=row["reason"], outcome=row["outcome"], spec=json.loads(row["spec_json"]),
    )
