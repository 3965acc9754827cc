"""Spec files already parsed, keyed by the SHA-256 of their bytes: a re-render after one edit
parses one file, not a thousand.

One JSON line per file (``path``, digest, data) in ``<cache_dir>/specs.jsonl``. Only files
that parsed cleanly into plain JSON data are kept (no duplicate keys, str keys, no dates), so
an entry gives exactly what parsing would; positions are not kept (errors re-read the file).
Lines are decoded only when asked for, and written back only when something changed. Like
the other caches, the file is trusted only when owned by this user and not writable by
others; any doubt means parsing afresh.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

# Bump when what the YAML walker builds changes; PyYAML's version is part of the key too.
VERSION = f"1 pyyaml-{yaml.__version__}"


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class SpecReadCache:
    """``get``/``put`` parsed data by (display path, digest); ``save`` at the end of a load."""

    def __init__(self, cache_dir: Path | None) -> None:
        self.path = cache_dir / "specs.jsonl" if cache_dir is not None else None
        self.lines: dict[str, tuple[str, str]] = {}  # display path -> (digest, JSON text)
        self.used: set[str] = set()
        self.dirty = False
        if self.path is not None:
            self._load(self.path)

    def _load(self, path: Path) -> None:
        try:
            st = path.stat()
            if st.st_uid != os.getuid() or st.st_mode & 0o022:
                return
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            return
        header, _, body = text.partition("\n")
        if header != VERSION:
            return
        for line in body.splitlines():
            name, _, rest = line.partition("\t")
            sha, _, data = rest.partition("\t")
            if name and sha and data:
                self.lines[name] = (sha, data)

    def get(self, name: str, sha: str) -> Any | None:
        """The data parsed from ``name`` when its bytes hashed to ``sha``, else None."""
        entry = self.lines.get(name)
        self.used.add(name)
        if entry is None or entry[0] != sha:
            return None
        try:
            return json.loads(entry[1])
        except ValueError:
            return None

    def put(self, name: str, sha: str, data: Any) -> None:
        """Remember plain data (dumped now: callers may change their copy afterwards)."""
        self.used.add(name)
        try:
            text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
        except (TypeError, ValueError):
            return
        if "\n" in name or "\t" in name or self.lines.get(name) == (sha, text):
            return
        self.lines[name] = (sha, text)
        self.dirty = True

    def save(self) -> None:
        """Write the entries used by this load (files since deleted drop out)."""
        if self.path is None or not (self.dirty or set(self.lines) - self.used):
            return
        body = "".join(f"{name}\t{sha}\t{data}\n"
                       for name, (sha, data) in sorted(self.lines.items()) if name in self.used)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(VERSION + "\n" + body)
            os.replace(tmp, self.path)
        except OSError:
            pass  # a cache that cannot be written only costs speed


def _croniter_key() -> str:
    """Which croniter judged: its module file's size and mtime (found without importing it:
    importing croniter runs ``file -b`` on the interpreter, 30 ms of every ``inv render``)."""
    spec = importlib.util.find_spec("croniter")
    try:
        st = os.stat(spec.origin) if spec is not None and spec.origin else None
    except OSError:
        st = None
    return f"croniter {st.st_size} {st.st_mtime_ns}" if st is not None else ""


class CronVerdicts:
    """``check(expr)``: ``judge(expr)``, remembered in the spec cache for this croniter."""

    def __init__(self, cache: SpecReadCache, judge: Callable[[str], str | None]) -> None:
        self.cache, self.judge, self.key = cache, judge, _croniter_key()

    def check(self, expr: str) -> str | None:
        name = "cron " + expr
        known = self.cache.get(name, self.key) if self.key else None
        if isinstance(known, dict) and set(known) == {"problem"}:
            return known["problem"] if isinstance(known["problem"], str) else None
        problem = self.judge(expr)
        if self.key:
            self.cache.put(name, self.key, {"problem": problem})
        return problem
