"""What a run shows and records: a line per task, a recap line, a JSON-lines event log.

Console lines look like Ansible's, one per task (or loop item)::

    PLAY [Deploy bankchurn]
    ok       Render and validate - 12 files up to date
    changed  Roll out the new revision - replaced revision 6 -> 7
    RECAP deploy: ok=5 changed=1 failed=0 skipped=0 rescued=0 ignored=0 in 3.21s

``ok`` counts every task that did not fail, changed ones included (as Ansible's recap).
The event log ``<state_dir>/runs/<timestamp>-<playbook>.jsonl`` gets one JSON object per
event, flushed within 0.2 s so a run killed half-way leaves its story behind. Only messages
and statuses are logged: never variable values, extra-var values or module data, which may
hold secrets.
"""

from __future__ import annotations

import json
import os
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from runner.locations import state_path
from runner.playbook.result import RunResult, TaskRecord, render_diff


def default_state_dir(root: Path) -> Path:
    """The state directory of ``root`` (``runner.locations``: the spec's ``state_dir``)."""
    return state_path(root)


def _short(value: Any, limit: int = 80) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str, sort_keys=True)
    return text if len(text) <= limit else text[: limit - 3] + "..."


class Reporter:
    """Writes console lines to ``stream`` (None: quiet) and events to ``log_path``."""

    def __init__(self, stream: TextIO | None, log_path: Path | None, diff: bool) -> None:
        self.stream = stream
        self.diff = diff
        self.log_path = log_path
        self._log: TextIO | None = None
        self._flushed = 0.0
        if log_path is not None:
            log_path.parent.mkdir(parents=True, exist_ok=True)
            self._log = log_path.open("a", encoding="utf-8")

    @staticmethod
    def log_path_for(state_dir: Path, playbook: str) -> Path:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
        return state_dir / "runs" / f"{stamp}-{playbook}.jsonl"

    def _line(self, text: str) -> None:
        if self.stream is not None:
            self.stream.write(text + "\n")

    def event(self, kind: str, **fields: Any) -> None:
        if self._log is None:
            return
        now = time.time()
        record = {"ts": round(now, 6), "event": kind, **fields}
        self._log.write(json.dumps(record, default=str) + "\n")
        # Flushed at most every 0.2 s (a flush per event was a tenth of a no-op task's time),
        # and at once for anything but a routine task line.
        if kind != "task" or fields.get("status") == "failed" or now - self._flushed > 0.2:
            self._log.flush()
            self._flushed = now

    # -- run structure ---------------------------------------------------------------
    def run_start(self, playbook: str, path: str, check: bool, diff: bool,
                  tags: list[str] | None, extra_keys: list[str]) -> None:
        # Extra-var names only: values given on the command line may be secrets.
        self.event("run_start", playbook=playbook, path=path, check=check, diff=diff,
                   tags=tags, extra_vars=extra_keys, pid=os.getpid())

    def play_start(self, name: str, where: str, check: bool) -> None:
        self._line(f"PLAY [{name}]" + (" (check mode)" if check else ""))
        self.event("play_start", play=name, where=where)

    def include_start(self, path: str) -> None:
        self._line(f"INCLUDE {path}")
        self.event("include", path=path)

    def handlers_start(self) -> None:
        self._line("RUNNING HANDLERS")
        self.event("handlers")

    def task(self, record: TaskRecord, no_log: bool = False, attempts: int = 1) -> None:
        status = record.status
        msg = "(output hidden by no_log)" if no_log and record.msg else record.msg
        item = "" if record.item is None else f" (item={_short(record.item)})"
        tail = f" - {msg}" if msg else ""
        shown = {"ignored": "failed", "rescued": "rescued"}.get(status, status)
        note = " (ignored)" if status == "ignored" else ""
        self._line(f"{shown:<8} {record.name}{item}{tail}{note}")
        diff_text = ""
        result = record.result
        if result is not None and result.diff is not None and not no_log and (
            self.diff and (result.changed or result.failed)
        ):
            diff_text = render_diff(result.diff, label=record.name)
            if diff_text:
                for line in diff_text.rstrip("\n").split("\n"):
                    self._line(f"    {line}")
        fields: dict[str, Any] = {
            "play": record.play,
            "task": record.name,
            "where": record.where,
            "status": status,
            "msg": msg,
            "duration_s": round(record.duration_s, 6),
        }
        if record.item is not None:
            fields["item"] = _short(record.item, 200)
        if attempts > 1:
            fields["attempts"] = attempts
        if diff_text:
            fields["diff"] = diff_text
        self.event("task", **fields)

    def rescued(self, play: str, name: str, where: str) -> None:
        self._line(f"{'rescued':<8} {name}")
        self.event("rescued", play=play, block=name, where=where)

    def finish(self, result: RunResult) -> None:
        self._line(result.recap())
        self.event(
            "run_end",
            playbook=result.playbook,
            stats=result.stats.as_dict(),
            exit_code=result.exit_code,
            duration_s=round(result.duration_s, 6),
            failures=[{"task": f.name, "where": f.where, "msg": f.msg} for f in result.failures],
        )
        if self._log is not None:
            self._log.close()
            self._log = None
