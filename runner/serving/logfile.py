"""A replica's own log: timestamped lines to a file it rotates itself (or to stderr).

The local runtime names the file (``MLGITOPS_LOG_FILE``:
``<state>/run/services/<svc>/<replica>.log``); in a container the line goes to stderr and
the engine keeps it. Every line starts with an ISO 8601 time, which ``inv logs`` reads back
(``runner.runtime.logfiles``) for ``--since`` and to merge replicas in time order.

Rotation happens here, in the process that writes: a rename by anyone else would leave
this process appending to the renamed file. ``ReplicaLogHandler`` rolls over by size
(``LOG_MAX_BYTES``, at most ``LOG_BACKUPS`` rotated files) and at each rollover drops the
rotated files older than ``LOG_KEEP_DAYS`` (the runbook keeps 30 days): one busy replica
cannot fill the disk, a quiet one keeps its month.
"""

from __future__ import annotations

import io
import logging
import logging.handlers
import os
import time
from datetime import datetime
from pathlib import Path

LOG_KEEP_DAYS = 30.0
LOG_MAX_BYTES = 10 * 1024 * 1024
LOG_BACKUPS = 10
LINE_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


class IsoFormatter(logging.Formatter):
    """``2026-01-31T12:00:00.123+01:00 INFO name message``: sortable and parseable back.

    The seconds part is formatted once per second (with a request line per prediction,
    formatting the time is a good part of a log line's cost)."""

    def __init__(self, fmt: str) -> None:
        super().__init__(fmt)
        self._second = -1
        self._prefix = ""
        self._zone = ""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
        second = int(record.created)
        if second != self._second:  # a race here only formats the same second twice
            when = datetime.fromtimestamp(second).astimezone()
            self._prefix = when.strftime("%Y-%m-%dT%H:%M:%S")
            zone = when.strftime("%z")
            self._zone = f"{zone[:3]}:{zone[3:]}" if zone else ""
            self._second = second
        millis = int((record.created - second) * 1000)
        return f"{self._prefix}.{millis:03d}{self._zone}"


class ReplicaLogHandler(logging.handlers.RotatingFileHandler):
    """Size-rotated log (0600) whose rollover also drops rotated files past the age limit."""

    def __init__(self, path: Path, *, max_bytes: int = LOG_MAX_BYTES,
                 backups: int = LOG_BACKUPS, keep_days: float = LOG_KEEP_DAYS) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.keep_days = keep_days
        super().__init__(path, maxBytes=max_bytes, backupCount=backups, encoding="utf-8")

    def _open(self) -> io.TextIOWrapper:
        # 0600 whatever the umask: replica logs may hold request data.
        fd = os.open(self.baseFilename, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        return open(fd, "a", encoding=self.encoding, errors=self.errors)  # noqa: SIM115

    def doRollover(self) -> None:  # noqa: N802
        super().doRollover()
        cutoff = time.time() - self.keep_days * 86400
        for old in Path(self.baseFilename).parent.glob(Path(self.baseFilename).name + ".*"):
            try:
                if old.stat().st_mtime < cutoff:
                    old.unlink()
            except OSError:
                continue


def configure(path: Path | None, *, level: int = logging.INFO) -> None:
    """The replica's logging: timestamped lines to ``path`` (rotated) or to stderr."""
    handler: logging.Handler = ReplicaLogHandler(path) if path else logging.StreamHandler()
    handler.setFormatter(IsoFormatter(LINE_FORMAT))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    logging.captureWarnings(True)


