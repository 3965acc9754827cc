"""Replica log files of the local runtime, read back merged; old ones pruned.

The replica process writes them (``runner.serving.logfile``: ``<replica>.log`` with an
ISO 8601 timestamp first on every line, rotated by size in the writer, rotated files past
30 days dropped) and the spawn's redirect catches what bypasses logging in
``<replica>.out``. Each replica has its own files, so the runtime deletes the files of
replicas long gone (``prune``, files untouched for ``LOG_KEEP_DAYS``) when it starts one.

Reading (``inv logs``): lines of every file of a service, each tagged with its replica
and time (a line without a timestamp, a traceback's body, takes the previous line's),
filtered by ``since``, merged in time order, the last ``tail`` kept; ``follow`` then polls
the files for new lines, notices rotated files and new replicas.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

from runner.runtime.base import LogLine

LOG_KEEP_DAYS = 30.0
FOLLOW_POLL_S = 0.25
DAEMON_LOG_MAX_BYTES = 10 * 1024 * 1024
DAEMON_LOG_BACKUPS = 5
# A time at the start of a line: ours and MLflow's ISO 8601, Prometheus' and Alertmanager's
# logfmt ``ts=...``, gunicorn's ``[2026-11-30 10:00:00 +0000]``.
_STAMP = re.compile(r"^(?:ts=|\[)?(\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?"
                    r"(?:\s?[+-]\d{2}:?\d{2}|Z)?)[\s\]]")
_ROTATED = re.compile(r"\.log\.\d+$")


def prune(folder: Path, keep_days: float = LOG_KEEP_DAYS) -> list[Path]:
    """Delete log files (``*.log*``, ``*.out``) in ``folder`` untouched for ``keep_days``."""
    cutoff = time.time() - keep_days * 86400
    gone = []
    for path in [*folder.glob("*.log*"), *folder.glob("*.out")]:
        try:
            if path.stat().st_mtime < cutoff:
                path.unlink()
                gone.append(path)
        except OSError:
            continue
    return gone


def rotate_before_start(path: Path, *, max_bytes: int = DAEMON_LOG_MAX_BYTES,
                        backups: int = DAEMON_LOG_BACKUPS) -> bool:
    """``path`` -> ``path.1`` -> ... ``path.<backups>`` when it is over ``max_bytes``.

    For the platform's daemons (MLflow, Prometheus, Alertmanager, the monitor): they write
    to the file the spawn opened and cannot reopen it, so their log is rotated only while
    none of them holds it, just before one starts. Returns whether it rotated."""
    try:
        if path.stat().st_size <= max_bytes:
            return False
    except OSError:
        return False
    for index in range(backups - 1, 0, -1):
        older = path.with_name(f"{path.name}.{index}")
        if older.exists():
            older.replace(path.with_name(f"{path.name}.{index + 1}"))
    path.replace(path.with_name(f"{path.name}.1"))
    return True


def stamp_of(text: str) -> float | None:
    """The epoch time a log line starts with, or None (a continuation line)."""
    m = _STAMP.match(text)
    if not m:
        return None
    stamp = m.group(1).replace("Z", "+00:00").replace(",", ".")
    stamp = re.sub(r"\s(?=[+-]\d{2}:?\d{2}$)", "", stamp)  # "10:00:00 +0000" -> "+0000"
    try:
        when = datetime.fromisoformat(stamp)
    except ValueError:
        return None
    return when.timestamp() if when.tzinfo else when.astimezone().timestamp()


def replica_of(path: Path) -> str:
    """``bankchurn-v1-ab12cd34-0f1e.log.2`` -> ``bankchurn-v1-ab12cd34-0f1e``."""
    name = _ROTATED.sub("", path.name)
    for suffix in (".log", ".out"):
        name = name.removesuffix(suffix)
    return name


def files_of(folder: Path) -> list[Path]:
    """Every log file of one service's folder, oldest rotation first per replica."""
    def order(path: Path) -> tuple[str, int]:
        m = re.search(r"\.log\.(\d+)$", path.name)
        return (replica_of(path), -int(m.group(1)) if m else 0)

    found = [p for p in folder.glob("*.log*") if not p.name.endswith(".tmp")]
    found += list(folder.glob("*.out"))
    return sorted(found, key=order)


def read_file(path: Path, since: float | None) -> list[LogLine]:
    """One file's lines at or after ``since``, each with its replica and time."""
    try:
        with path.open("r", encoding="utf-8", errors="replace") as fh:
            text = fh.read()
        fallback = path.stat().st_mtime
    except OSError:
        return []
    return _lines(text.splitlines(), replica_of(path), since, fallback)


def _lines(raw: list[str], replica: str, since: float | None, last: float) -> list[LogLine]:
    out = []
    for text in raw:
        if not text.strip():
            continue
        at = stamp_of(text)
        if at is not None:
            last = at
        if since is None or last >= since:
            out.append(LogLine(replica=replica, at=last, text=text))
    return out


def read(folder: Path, *, since: float | None = None, tail: int | None = None
         ) -> list[LogLine]:
    """Every replica's lines of one service, in time order (stable per file)."""
    lines: list[LogLine] = []
    for path in files_of(folder):
        lines.extend(read_file(path, since))
    lines.sort(key=lambda line: line.at)
    if tail is None:
        return lines
    return lines[-tail:] if tail > 0 else []


def follow(folder: Path, *, stop: Callable[[], bool] = lambda: False,
           poll_s: float = FOLLOW_POLL_S) -> Iterator[LogLine]:
    """New lines of every current (``.log``, ``.out``) file in ``folder`` as they come.

    Starts at each file's end; a file seen for the first time later (a new replica) is read
    from its start; a file that shrank or changed inode (rotated) is read again from 0."""
    offsets: dict[Path, tuple[int, int]] = {}  # path -> (inode, offset)
    for path in _current(folder):
        try:
            info = path.stat()
            offsets[path] = (info.st_ino, info.st_size)
        except OSError:
            continue
    while not stop():
        for path in _current(folder):
            try:
                info = path.stat()
            except OSError:
                continue
            inode, offset = offsets.get(path, (info.st_ino, 0))
            if inode != info.st_ino or info.st_size < offset:
                offset = 0
            if info.st_size == offset:
                offsets[path] = (info.st_ino, offset)
                continue
            with path.open("rb") as fh:
                fh.seek(offset)
                chunk = fh.read()
            complete = chunk[: chunk.rfind(b"\n") + 1]  # a half-written line waits
            offsets[path] = (info.st_ino, offset + len(complete))
            text = complete.decode("utf-8", errors="replace").splitlines()
            yield from _lines(text, replica_of(path), None, time.time())
        time.sleep(poll_s)


def _current(folder: Path) -> list[Path]:
    return sorted([*folder.glob("*.log"), *folder.glob("*.out")])
