"""A persistent cache of compiled Jinja2 templates (Python code objects), across runs.

Compiling a Jinja2 template (parse, generate Python, ``compile()``) costs about a millisecond;
a 200-task playbook has hundreds of distinct expressions, so a rerun would spend most of
its time compiling what it compiled last time. Like Python's ``.pyc`` files, the code
objects are kept with ``marshal`` in one file per Jinja2/Python version under
``<state_dir>/cache/``; the key includes the environment's flavour (sandboxed expression,
template, trimmed file template), so a cached template is exactly what the sandboxed
environment would have generated. The file lives in the user's own state directory, the
same trust level as the ``__pycache__`` folders next to the code.
"""

from __future__ import annotations

import marshal
import os
import sys
from pathlib import Path
from types import CodeType

import jinja2

MAX_ENTRIES = 50_000  # beyond this the cache starts afresh rather than growing forever


class CodeCache:
    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.codes: dict[str, CodeType] = {}
        self.dirty = False
        if path is not None:
            try:
                st = path.stat()
                # Code is only trusted from a file this user owns and nobody else can write.
                if st.st_uid == os.getuid() and not st.st_mode & 0o022:
                    # bandit B302: our own cache file, owned by this user, writable by
                    # nobody else (checked above): the trust level of __pycache__.
                    data = marshal.loads(path.read_bytes())  # noqa: S302 # nosec B302
                    if isinstance(data, dict):
                        self.codes = data
            except (OSError, EOFError, ValueError, TypeError):
                self.codes = {}  # missing or from another version: rebuild

    @classmethod
    def for_state_dir(cls, state_dir: Path) -> CodeCache:
        py = f"{sys.version_info.major}{sys.version_info.minor}"
        return cls(state_dir / "cache" / f"jinja-{jinja2.__version__}-py{py}.marshal")

    def get(self, key: str) -> CodeType | None:
        return self.codes.get(key)

    def put(self, key: str, code: CodeType) -> None:
        if len(self.codes) >= MAX_ENTRIES:
            self.codes = {}
        self.codes[key] = code
        self.dirty = True

    def save(self) -> None:
        """Write the cache if it grew (atomically, so concurrent runs never read half a file)."""
        if not self.dirty or self.path is None:
            return
        import tempfile

        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".jinja-")
            with os.fdopen(fd, "wb") as fh:
                fh.write(marshal.dumps(self.codes))
            os.replace(tmp, self.path)
            self.dirty = False
        except OSError:
            pass  # a cache that cannot be written only costs speed
