"""One exception family for the whole toolkit.

Every error a user can cause renders as one line (``file:line:col field: message``);
tracebacks are shown only with ``--debug``. Retryable failures (a server not up yet,
a lock held) are a different type from permanent ones (a bad spec), so loops can
retry the first kind and stop at once on the second.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Line breaks, other control characters and lone surrogates (YAML's "\ud800" escape makes
# one) can come from a user's keys and values: shown escaped, an error quoting them stays
# one line and can be printed on any terminal.
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")


def printable(text: str) -> str:
    """``text`` with control characters and lone surrogates escaped (``\\n``, ``\\ud800``)."""
    return _UNPRINTABLE.sub(lambda m: m.group().encode("unicode_escape").decode(), text)


@dataclass(frozen=True)
class Location:
    """Where in a user's file something is: 1-based line and column."""

    file: str
    line: int | None = None
    column: int | None = None

    def __str__(self) -> str:
        parts = [self.file]
        if self.line is not None:
            parts.append(str(self.line))
            if self.column is not None:
                parts.append(str(self.column))
        return ":".join(parts)


class ToolkitError(Exception):
    """Base of every error the toolkit raises on purpose. ``exit_code`` is what the CLI returns."""

    exit_code = 1

    def __init__(
        self, message: str, *, location: Location | None = None, field: str | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.location = location
        self.field = field

    def one_line(self) -> str:
        """The user-facing rendering: ``file:line:col field: message``."""
        prefix = []
        if self.location is not None:
            prefix.append(str(self.location))
        if self.field:
            prefix.append(self.field)
        head = " ".join(prefix)
        return f"{head}: {self.message}" if head else self.message

    def __str__(self) -> str:
        return self.one_line()


class PermanentError(ToolkitError):
    """Retrying will not help: the input or the configuration is wrong."""


class TemporaryError(ToolkitError):
    """May succeed if tried again later: a server starting, a port busy, a lock held."""


class SpecError(PermanentError):
    """A spec file is malformed or invalid. Carries every problem found, one per line."""

    def __init__(self, problems: list[ToolkitError]) -> None:
        self.problems = problems
        super().__init__("\n".join(p.one_line() for p in problems))

    def one_line(self) -> str:
        return "\n".join(p.one_line() for p in self.problems)


class RenderError(PermanentError):
    """A template failed to render (names the template and line)."""


class PlaybookError(PermanentError):
    """A playbook is malformed: unknown module, bad argument (names playbook file and line)."""


class TaskFailed(ToolkitError):
    """A playbook task failed at run time."""


class RuntimeActionError(TemporaryError):
    """A runtime action (start, stop, replace) did not succeed."""


class HealthCheckFailed(TemporaryError):
    """A service did not become healthy in time."""


class LockHeld(TemporaryError):
    """Another apply holds the lock; names the holder."""


class RegistryError(PermanentError):
    """The model registry does not have what the spec asks for."""


class StateCorrupt(PermanentError):
    """The state store file is not a sound sqlite database (garbage, truncated)."""


class RegistryUnavailable(TemporaryError):
    """The model registry (MLflow) cannot be reached: nothing was changed."""


class DataValidationError(PermanentError):
    """Data failed validation (schema, ranges, nulls); names the column."""


class NotInstalled(PermanentError):
    """An optional external tool (prometheus, docker, ...) is not installed."""
