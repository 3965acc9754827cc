"""The one result shape every module returns, the per-run tallies, and the one diff renderer.

A module says what it did (or, in check mode, would do) with ``Result``; the engine turns
it into a status (ok, changed, failed, skipped), a registered variable and an event. Diffs
are data (before/after) until the one place that renders them as text: ``render_diff``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Keys of a registered result that the engine owns; module data must not shadow them.
RESERVED = frozenset({"changed", "failed", "skipped", "msg", "diff", "attempts", "results"})


@dataclass
class Result:
    """What a module reports. ``data`` fields are registerable (``result.status``...)."""

    changed: bool = False
    failed: bool = False
    skipped: bool = False
    msg: str = ""
    diff: dict[str, Any] | str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    # Variables to define for the rest of the run (set_fact); not part of the registered value.
    facts: dict[str, Any] | None = None

    def to_vars(self) -> dict[str, Any]:
        """The value a ``register:`` stores: module data plus the common flags."""
        out = {k: v for k, v in self.data.items() if k not in RESERVED}
        out.update(changed=self.changed, failed=self.failed, skipped=self.skipped, msg=self.msg)
        if self.diff is not None:
            out["diff"] = self.diff
        return out

    @property
    def status(self) -> str:
        if self.failed:
            return "failed"
        if self.skipped:
            return "skipped"
        return "changed" if self.changed else "ok"


@dataclass
class TaskRecord:
    """One task (or one loop item) as it ran: kept on the RunResult for API callers."""

    play: str
    name: str
    status: str  # ok | changed | failed | skipped | ignored | rescued
    msg: str
    where: str  # file:line:col of the task
    item: Any = None
    result: Result | None = None
    duration_s: float = 0.0


@dataclass
class Stats:
    """The recap counters, like Ansible's PLAY RECAP."""

    ok: int = 0
    changed: int = 0
    failed: int = 0
    skipped: int = 0
    rescued: int = 0
    ignored: int = 0

    def line(self) -> str:
        return (
            f"ok={self.ok} changed={self.changed} failed={self.failed} "
            f"skipped={self.skipped} rescued={self.rescued} ignored={self.ignored}"
        )

    def as_dict(self) -> dict[str, int]:
        return {
            "ok": self.ok,
            "changed": self.changed,
            "failed": self.failed,
            "skipped": self.skipped,
            "rescued": self.rescued,
            "ignored": self.ignored,
        }


@dataclass
class RunResult:
    """What ``run_playbook`` returns. ``exit_code`` is 0 unless a failure went unrescued."""

    playbook: str
    stats: Stats
    records: list[TaskRecord]
    facts: dict[str, Any]
    log_path: Path | None
    duration_s: float
    check: bool = False
    failures: list[TaskRecord] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.stats.failed == 0

    @property
    def changed(self) -> bool:
        return self.stats.changed > 0

    @property
    def exit_code(self) -> int:
        return 0 if self.ok else 1

    def recap(self) -> str:
        mode = " (check mode)" if self.check else ""
        return f"RECAP {self.playbook}{mode}: {self.stats.line()} in {self.duration_s:.2f}s"


def _as_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    # Structured data diffs as stable, sorted JSON so line diffs stay meaningful.
    return json.dumps(value, indent=2, sort_keys=True, default=str) + "\n"


def render_diff(diff: dict[str, Any] | str | None, *, label: str = "") -> str:
    """The one renderer: unified text for before/after (text or data), passthrough for text.

    A dict diff may carry ``before``/``after`` and optional ``before_header``/``after_header``
    (file names); a list of such dicts (one per file) under ``files`` renders one after another.
    """
    if diff is None:
        return ""
    if isinstance(diff, str):
        return diff if diff.endswith("\n") or not diff else diff + "\n"
    if "files" in diff:
        return "".join(render_diff(d, label=label) for d in diff["files"])
    before, after = _as_text(diff.get("before")), _as_text(diff.get("after"))
    if before == after:
        return ""
    import difflib  # only when a diff is shown: keeps it off the start-up path

    lines = difflib.unified_diff(
        before.splitlines(keepends=True),
        after.splitlines(keepends=True),
        fromfile=str(diff.get("before_header") or f"before{': ' + label if label else ''}"),
        tofile=str(diff.get("after_header") or f"after{': ' + label if label else ''}"),
    )
    out = []
    for line in lines:
        out.append(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n")
    return "".join(out)
