"""Validated playbooks cached across runs, keyed by the content of every file they read.

Loading a playbook (YAML construction with positions, keyword checks, pydantic validation of
every module's arguments) is about half the time of a no-op run. Its result only depends on
the playbook file, the files it includes, the modules' code and the loader's own code, so it
is kept, pickled, under ``<state_dir>/cache/playbooks/`` and reused while the SHA-256 of each
of those files and the loader's version are unchanged. A playbook that fails validation is
never cached, so errors are always reported afresh; arguments are validated again at run
time anyway.

Like the compiled-template cache, entries are trusted only when owned by this user and not
writable by others (the state directory's trust level).
"""

from __future__ import annotations

import hashlib
import os
import pickle
import sys
from pathlib import Path
from typing import Any

from runner.playbook.playbook_model import Playbook, Task

# Bump when the shape of the parsed model changes in a way mtimes would not reveal.
CACHE_VERSION = 2
_OWN_SOURCES = ("playbook_loader.py", "playbook_model.py", "playbook_yaml.py", "parsecache.py",
                "../yamlpos.py")


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _code_version() -> tuple[Any, ...]:
    here = Path(__file__).parent
    return (CACHE_VERSION, sys.version_info[:2],
            *(os.stat(here / name).st_mtime_ns for name in _OWN_SOURCES))


def _files(playbook: Playbook) -> list[Path]:
    """The playbook file, every file it includes (literal includes), recursively, and the
    source of every module class it uses (their argument models decided validation)."""
    out = [playbook.path]

    def walk(tasks: list[Task]) -> None:
        for task in tasks:
            if task.module_cls is not None:
                source = getattr(sys.modules.get(task.module_cls.__module__), "__file__", None)
                if source and Path(source) not in out:
                    out.append(Path(source))
            if task.included is not None:
                out.extend(_files(task.included))
            if task.block is not None:
                walk(task.block)
                walk(task.rescue)
                walk(task.always)

    for play in playbook.plays:
        walk(play.tasks)
        walk(play.handlers)
    return out


class ParseCache:
    def __init__(self, state_dir: Path | None, modules: str = "") -> None:
        self.dir = state_dir / "cache" / "playbooks" if state_dir is not None else None
        # The module set's fingerprint: a playbook validated against other modules (a task
        # key the caller did not hand in) must not be reused.
        self.modules = modules

    def _entry(self, path: Path) -> Path | None:
        if self.dir is None:
            return None
        # The working directory is part of the key: error messages show paths relative to it.
        key = hashlib.sha256(f"{path}\0{Path.cwd()}\0{self.modules}".encode()).hexdigest()[:24]
        return self.dir / f"{path.stem}-{key}.pickle"

    def get(self, path: Path) -> Playbook | None:
        entry = self._entry(path)
        if entry is None:
            return None
        try:
            st = entry.stat()
            if st.st_uid != os.getuid() or st.st_mode & 0o022:
                return None
            # bandit B301: our own cache entry in the 0700 state dir, owned by this user
            # and writable by nobody else (checked above), like codecache.py's.
            version, files, playbook = pickle.loads(entry.read_bytes())  # noqa: S301 # nosec B301
            if version != _code_version():
                return None
            for name, digest in files:
                if _digest(Path(name)) != digest:
                    return None
        except Exception:  # missing, stale, unreadable, a module class gone: parse afresh
            return None
        return playbook if isinstance(playbook, Playbook) else None

    def put(self, playbook: Playbook) -> None:
        entry = self._entry(playbook.path)
        if entry is None:
            return
        import tempfile

        try:
            files = [(str(p), _digest(p)) for p in _files(playbook)]
            data = pickle.dumps((_code_version(), files, playbook),
                                protocol=pickle.HIGHEST_PROTOCOL)
        except Exception:  # e.g. a module class defined in a function cannot be pickled
            return
        try:
            entry.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=entry.parent, prefix=".pb-")
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, entry)
        except OSError:
            pass  # a cache that cannot be written only costs speed
