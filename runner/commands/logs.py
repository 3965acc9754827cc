"""``inv logs --service S [--follow] [--tail N] [--since 10m] [--grep TEXT]``.

``S`` is a service, or one of the platform's daemons (``mlflow``, ``prometheus``,
``alertmanager``, ``monitor``, ``registry``).

The runtime finds the lines (``Runtime.logs``: local files, container logs); this module
parses the flags, filters by text and prints each line after its replica's name, so lines
of several replicas merged in time order still say where they come from.
"""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import Path

from runner.errors import PermanentError
from runner.operations import open_env
from runner.runtime import logfiles
from runner.runtime.base import LogLine, Runtime

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
_UNIT_S = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_since(text: str, now: float | None = None) -> float | None:
    """``10m``, ``90s``, ``2h``, ``1d`` ago, or an ISO time; "" means no bound."""
    if not text:
        return None
    m = _DURATION.match(text)
    if m:
        return (now if now is not None else time.time()) - float(m.group(1)) * _UNIT_S[m.group(2)]
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise PermanentError(f"--since {text!r}: give a duration (30s, 10m, 2h, 1d) "
                             "or an ISO time (2026-01-31T12:00)") from None
    return when.timestamp()


def matching(lines: Iterable[LogLine], grep: str) -> Iterator[LogLine]:
    """Lines containing ``grep`` (plain text, case-sensitive like grep); all when empty."""
    for line in lines:
        if not grep or grep in line.text:
            yield line


# The platform's daemons (``runner.runtime.daemons``): each logs to ``<state>/run/<name>.log``,
# rotated before it starts (``logfiles.rotate_before_start``).
DAEMONS = ("mlflow", "prometheus", "alertmanager", "monitor", "registry")


class DaemonLogs:
    """``logs()`` like a runtime's, for one daemon's log and its rotated files."""

    def __init__(self, folder: Path, name: str) -> None:
        self.folder, self.name = folder, name

    def logs(self, service: str, *, since: float | None = None, tail: int | None = None,
             follow: bool = False) -> Iterator[LogLine]:
        def own(lines: Iterable[LogLine]) -> Iterator[LogLine]:
            return (line for line in lines if line.replica == self.name)

        yield from own(logfiles.read(self.folder, since=since, tail=None))
        if follow:
            yield from own(logfiles.follow(self.folder))


def render(line: LogLine, width: int) -> str:
    return f"{line.replica:<{width}} | {line.text}"


def logs_command(service: str, env_name: str = "dev", follow: bool = False,
                 tail: int | None = None, since: str = "", grep: str = "") -> int:
    """Print the service's replica logs; with ``follow`` keep printing until Ctrl-C."""
    env = open_env(None, env_name, quiet=True)
    if tail is not None and tail < 0:
        raise PermanentError("--tail must be 0 or more")
    start = parse_since(since)
    source: DaemonLogs | Runtime
    if service in DAEMONS and service not in env.platform.services:
        source = DaemonLogs(env.state / "run", service)
    else:
        known = set(env.platform.services) | set(env.runtime.facts(None, check_health=False))
        if service not in known:
            raise PermanentError(f"{service} is not in the specs ({', '.join(sorted(known))})"
                                 f"; the platform's own logs: {', '.join(DAEMONS)}")
        source = env.runtime
    # The tail applies after the text filter: "the last 20 lines about predict".
    past = list(matching(source.logs(service, since=start), grep))
    if tail is not None:
        past = past[-tail:] if tail else []
    width = max((len(line.replica) for line in past), default=len(service) + 22)
    for line in past:
        print(render(line, width))
    if not follow:
        if not past:
            print(f"{service}: no log lines{' matching ' + repr(grep) if grep else ''}"
                  f"{' since ' + since if since else ''}", file=sys.stderr)
        return 0
    try:
        stream = source.logs(service, since=time.time(), tail=0, follow=True)
        for line in matching(stream, grep):
            print(render(line, width), flush=True)
    except KeyboardInterrupt:
        pass
    return 0
