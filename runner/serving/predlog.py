"""Sampled prediction inputs, appended to ``.state/predictions/<service>.jsonl`` for drift checks.

The request path only appends to an in-memory deque (no I/O, no lock held across I/O);
a daemon thread writes what accumulated every half second. The file is bounded: past
``max_bytes`` it rotates to ``.1`` .. ``.<backups>``. Several replicas of one service may
share the file, so writing and rotating happen under an advisory lock (``<file>.lock``)
and each flush opens the file anew (a rotated file is never written through a stale fd).
Nothing is fsynced: a crash may lose the last half second of samples, which drift
detection does not notice. Rows that are not written (a full queue, a batch the disk
refused) are counted in ``dropped`` and reported through ``on_drop`` (a metric).

One line per predicted row: the feature columns as sent (so ``pandas.read_json(lines=True)``
gives a frame comparable with the training data) plus ``_ts``, ``_model_version``,
``_prediction`` and, for classifiers, ``_probability``.
"""

from __future__ import annotations

import collections
import fcntl
import json
import logging
import random
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from runner.state.paths import private_opener

log = logging.getLogger("mlgitops.serving")

FLUSH_INTERVAL_S = 0.5
# Above this many rows waiting, new samples are dropped (and counted): a stuck disk must
# not grow the replica's memory without bound.
MAX_PENDING_ROWS = 50_000
# One recorded call: (time, model version, rows, predictions).
Pending = tuple[float, str, list[dict[str, Any]], list[dict[str, Any]]]


class PredictionLog:
    """Append-only, sampled, bounded, rotated jsonl log written off the request path."""

    def __init__(self, path: Path, *, sample: float, max_bytes: int, backups: int,
                 on_drop: Callable[[str, int], None] | None = None) -> None:
        self.path = path
        self.on_drop = on_drop
        self.sample = sample
        self.max_bytes = max_bytes
        self.backups = backups
        self.dropped = 0
        self.written = 0
        self._pending: collections.deque[Pending] = collections.deque()
        self._pending_rows = 0
        self._lock = threading.Lock()  # held for a deque append or swap only, never for I/O
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="prediction-log", daemon=True)

    def start(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._thread.start()

    def record(self, version: str, rows: list[dict[str, Any]], preds: list[dict[str, Any]]) -> None:
        """Queue a sample of ``rows`` with their predictions. Called on the request path."""
        if self.sample <= 0.0:
            return
        if self.sample < 1.0:
            keep = [i for i in range(len(rows)) if random.random() < self.sample]
            if not keep:
                return
            rows = [rows[i] for i in keep]
            preds = [preds[i] for i in keep]
        with self._lock:
            if self._pending_rows + len(rows) > MAX_PENDING_ROWS:
                self.dropped += len(rows)
                self._report_drop("queue_full", len(rows))
                return
            self._pending_rows += len(rows)
            self._pending.append((time.time(), version, rows, preds))

    def close(self) -> None:
        """Stop the writer after a last flush (graceful shutdown)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.wait(FLUSH_INTERVAL_S):
            self._flush_safely()
        self._flush_safely()

    def _flush_safely(self) -> None:
        try:
            self.flush()
        except OSError as exc:  # a full or read-only disk must not kill the replica
            log.warning("prediction log %s: %s", self.path, exc.strerror or exc)

    def _report_drop(self, reason: str, rows: int) -> None:
        if self.on_drop is not None:
            self.on_drop(reason, rows)

    def flush(self) -> None:
        """Write what accumulated; a batch the disk refuses is counted as dropped, then raised."""
        with self._lock:
            batch, self._pending = self._pending, collections.deque()
            self._pending_rows = 0
        try:
            self._write(batch)
        except OSError:
            rows = sum(len(rows) for _, _, rows, _ in batch)
            self.dropped += rows
            self._report_drop("write_failed", rows)
            raise

    def _write(self, batch: collections.deque[Pending]) -> None:
        lines: list[str] = []
        for ts, version, rows, preds in batch:
            for row, pred in zip(rows, preds, strict=True):
                line = dict(row)
                line["_ts"] = round(ts, 3)
                line["_model_version"] = version
                line["_prediction"] = pred.get("prediction")
                if "probability" in pred:
                    line["_probability"] = pred["probability"]
                lines.append(json.dumps(line, separators=(",", ":")))
        if not lines:
            return
        data = ("\n".join(lines) + "\n").encode()
        lock_path = self.path.with_name(self.path.name + ".lock")
        self.path.parent.mkdir(parents=True, exist_ok=True)  # recreated if state was wiped
        with open(lock_path, "a", opener=private_opener) as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                with open(self.path, "ab", opener=private_opener) as out:  # customer data
                    out.write(data)
                    size = out.tell()
                if size > self.max_bytes:
                    self._rotate()
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)
        self.written += len(lines)

    def _rotate(self) -> None:
        """Shift ``file.N-1`` -> ``file.N`` ... ``file`` -> ``file.1``; the oldest falls off."""
        if self.backups <= 0:
            self.path.unlink(missing_ok=True)
            return
        for n in range(self.backups - 1, 0, -1):
            older = self.path.with_name(f"{self.path.name}.{n}")
            if older.exists():
                older.replace(self.path.with_name(f"{self.path.name}.{n + 1}"))
        self.path.replace(self.path.with_name(f"{self.path.name}.1"))
