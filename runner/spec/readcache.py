"""Spec files already parsed, keyed by the SHA-256 of their bytes: a re-render after one edit
parses one file, not a thousand.

One line per file (``path``, digest, stat signature, JSON data) in ``<cache_dir>/specs.jsonl``.
A file whose size, mtime, ctime and inode are as recorded is not even read again (git's index
does the same); a signature is recorded only for files last changed over two seconds before,
so an edit within the clock's granularity cannot hide behind an unchanged mtime. Only files
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
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from pydantic_core import from_json

# Bump when what the YAML walker builds changes; PyYAML's version is part of the key too.
VERSION = f"2 pyyaml-{yaml.__version__}"
SETTLED_NS = 2_000_000_000  # how old a change must be for its stat to vouch for the bytes


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def signature(path: Path) -> str:
    """Size, mtime, ctime and inode of ``path`` when its last change is settled, else ``""``."""
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return ""
    if time.time_ns() - max(st.st_mtime_ns, st.st_ctime_ns) < SETTLED_NS:
        return ""
    return f"{st.st_size}:{st.st_mtime_ns}:{st.st_ctime_ns}:{st.st_ino}"


class SpecReadCache:
    """``get``/``put`` parsed data by (display path, digest) or by an unchanged stat
    signature (``unchanged``); ``save`` at the end of a load."""

    def __init__(self, cache_dir: Path | None) -> None:
        self.path = cache_dir / "specs.jsonl" if cache_dir is not None else None
        # display path -> (digest, stat signature, JSON text)
        self.lines: dict[str, tuple[str, str, str]] = {}
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
            name, sha, sig, data = (line.split("\t", 3) + ["", "", ""])[:4]
            if name and sha and data:
                self.lines[name] = (sha, sig, data)

    def _decode(self, text: str) -> Any | None:
        try:
            return from_json(text)  # the same plain data as json.loads, in half the time
        except ValueError:
            return None

    def text(self, name: str) -> str | None:
        """The JSON text ``unchanged`` or ``get`` just decoded for ``name``."""
        entry = self.lines.get(name)
        return entry[2] if entry is not None else None

    def unchanged(self, name: str, sig: str) -> Any | None:
        """The data of ``name`` when its stat signature ``sig`` is the one recorded."""
        entry = self.lines.get(name)
        if not sig or entry is None or entry[1] != sig:
            return None
        self.used.add(name)
        return self._decode(entry[2])

    def get(self, name: str, sha: str, sig: str = "") -> Any | None:
        """The data parsed from ``name`` when its bytes hashed to ``sha``, else None; a hit
        records ``sig``, the file's stat signature now."""
        entry = self.lines.get(name)
        self.used.add(name)
        if entry is None or entry[0] != sha:
            return None
        if entry[1] != sig:
            self.lines[name] = (sha, sig, entry[2])
            self.dirty = True
        return self._decode(entry[2])

    def put(self, name: str, sha: str, data: Any, sig: str = "") -> None:
        """Remember plain data (dumped now: callers may change their copy afterwards)."""
        self.used.add(name)
        try:
            text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
        except (TypeError, ValueError):
            return
        if "\n" in name or "\t" in name or self.lines.get(name) == (sha, sig, text):
            return
        self.lines[name] = (sha, sig, text)
        self.dirty = True

    def save(self) -> None:
        """Write the entries used by this load (files since deleted drop out)."""
        if self.path is None or not (self.dirty or set(self.lines) - self.used):
            return
        body = "".join(f"{name}\t{sha}\t{sig}\t{data}\n"
                       for name, (sha, sig, data) in sorted(self.lines.items())
                       if name in self.used)
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
        # Verdicts of this load: a fleet shares a few schedules, and looking each one up
        # in the cache again (1,000 decodes) cost 10 ms of a re-render.
        self.seen: dict[str, str | None] = {}

    def check(self, expr: str) -> str | None:
        if expr in self.seen:
            return self.seen[expr]
        self.seen[expr] = problem = self._check(expr)
        return problem

    def _check(self, expr: str) -> str | None:
        name = "cron " + expr
        known = self.cache.get(name, self.key) if self.key else None
        if isinstance(known, dict) and set(known) == {"problem"}:
            return known["problem"] if isinstance(known["problem"], str) else None
        problem = self.judge(expr)
        if self.key:
            self.cache.put(name, self.key, {"problem": problem})
        return problem
