"""Which procedure an alert starts (from ``platform.alert_actions``), and starting it once.

The rules live in the platform spec; this module only matches them:
- the action's ``alert`` is the alert's runbook row (``kind``) and the severities match;
- an action with ``within_deploy_window_s`` applies only when the alert started within
  that many seconds after the service's current deploy (a rollback of an old, healthy
  revision would not help, and the deploy it would undo is named in the variables);
- a procedure whose playbook file does not exist yet is recorded as requested instead.

Alertmanager repeats a firing alert every group/repeat interval. ``Ledger`` makes the
start idempotent: one procedure per alert episode (fingerprint + start time), and never a
second one of the same playbook for the same service while the first still runs.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from runner.monitor.alert_model import Alert
from runner.monitor.audit_access import Deployed
from runner.runtime.process import alive, start_time
from runner.spec.models import Platform
from runner.state.paths import private_opener


@dataclass(frozen=True)
class Decision:
    """A matched alert action: run ``playbook`` with ``vars``, unless ``skip`` says why not."""

    playbook: str
    service: str
    vars: Mapping[str, str] = field(default_factory=dict)
    skip: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "playbook": self.playbook, "service": self.service, "vars": dict(self.vars),
            "skip": self.skip,
        }


def decide(
    alert: Alert, platform: Platform, deployed: Mapping[str, Deployed], now: float | None = None
) -> list[Decision]:
    """The alert actions that match ``alert`` (a resolved alert matches none)."""
    if not alert.firing:
        return []
    out: list[Decision] = []
    for action in platform.platform.alert_actions:
        if action.alert != alert.kind or action.severity != alert.severity:
            continue
        base = {"service": alert.service, "alert": _plain(alert.name),
                "fingerprint": _plain(alert.fingerprint)}
        if alert.service not in platform.services:
            skip = "alert names no known service"
            out.append(Decision(action.playbook, alert.service, base, skip))
            continue
        if action.within_deploy_window_s is None:
            since = _plain(alert.starts_at) or "now"
            reason = f"{_plain(alert.name)} ({_plain(alert.severity)}) since {since}"
            out.append(Decision(action.playbook, alert.service, {**base, "reason": reason}))
            continue
        dep = deployed.get(alert.service)
        if dep is None:
            out.append(Decision(action.playbook, alert.service, base, "no deploy on record"))
            continue
        started = parse_time(alert.starts_at) or (now if now is not None else time.time())
        age = started - dep.deployed_at
        if not 0 <= age <= action.within_deploy_window_s:
            when = (f"{-age:.0f}s before" if age < 0 else f"{age:.0f}s after")
            out.append(Decision(
                action.playbook, alert.service, base,
                f"alert started {when} revision {dep.revision} was deployed, outside "
                f"the {action.within_deploy_window_s}s post-deploy window",
            ))
            continue
        reason = f"{_plain(alert.name)} {age:.0f}s after revision {dep.revision} was deployed"
        out.append(Decision(
            action.playbook, alert.service,
            {**base, "revision": str(dep.revision), "reason": reason},
        ))
    return out


def _plain(text: str) -> str:
    """Alert fields become playbook variables, and playbooks are Jinja templates: keep
    only characters that cannot open a template expression (anyone on 127.0.0.1 can post)."""
    return re.sub(r"[^A-Za-z0-9_.:+ -]", "", text)[:200]


def parse_time(text: str) -> float | None:
    """Unix time of an RFC 3339 timestamp as Alertmanager writes it (nanoseconds allowed)."""
    if not text or text.startswith("0001-"):
        return None
    cleaned = text.replace("Z", "+00:00")
    if "." in cleaned:  # Python parses at most microseconds: trim the fraction to six digits
        head, rest = cleaned.split(".", 1)
        digits = "".join(ch for ch in rest if ch.isdigit())
        cleaned = f"{head}.{digits[:6].ljust(6, '0')}{rest[len(digits):]}"
    try:
        return datetime.fromisoformat(cleaned).timestamp()
    except ValueError:
        return None


class Ledger:
    """Procedures started by alerts, in ``<state>/monitor/procedures.json`` under a file lock.

    A file rather than memory so that a restarted webhook still knows what it started,
    and so that the record is shared by every thread and process handling alerts.
    ``name`` picks another file of the same kind (the dispatcher's firing episodes).
    """

    def __init__(self, state: Path, name: str = "procedures") -> None:
        self.path = state / "monitor" / f"{name}.json"
        self.path.parent.mkdir(parents=True, exist_ok=True)

    @contextmanager
    def locked(self) -> Iterator[dict[str, dict[str, Any]]]:
        """Read-modify-write the ledger atomically (one holder at a time)."""
        with open(self.path.with_suffix(".lock"), "a+") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                entries = self._read()
                yield entries
                tmp = self.path.with_suffix(f".{os.getpid()}.tmp")
                with open(tmp, "w", opener=private_opener) as out:
                    out.write(json.dumps(entries, sort_keys=True, indent=1))
                os.replace(tmp, self.path)
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _read(self) -> dict[str, dict[str, Any]]:
        try:
            data = json.loads(self.path.read_text())
        except (FileNotFoundError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def entries(self) -> dict[str, dict[str, Any]]:
        return self._read()


def entry_running(entry: Mapping[str, Any]) -> bool:
    pid = entry.get("pid")
    return isinstance(pid, int) and alive(pid, entry.get("pid_start"))


def why_not(entries: Mapping[str, Mapping[str, Any]], key: str, episode: str,
            playbook: str, service: str) -> str:
    """Why a procedure must not start now, or "" when it may."""
    mine = entries.get(key)
    if mine is not None and entry_running(mine):
        return f"{playbook} for {service} already running (pid {mine['pid']})"
    if mine is not None and mine.get("episode") == episode:
        return f"{playbook} for {service} already {mine.get('how', 'started')} for this alert"
    for other in entries.values():
        if other.get("playbook") == playbook and other.get("service") == service:
            if entry_running(other):
                return f"{playbook} for {service} already running (pid {other['pid']})"
    return ""


def record(entries: dict[str, dict[str, Any]], key: str, *, episode: str, playbook: str,
           service: str, how: str, pid: int | None = None) -> None:
    entries[key] = {
        "episode": episode, "playbook": playbook, "service": service, "how": how,
        "pid": pid, "pid_start": start_time(pid) if pid else None, "at": time.time(),
    }


def stop_running(state: Path) -> list[str]:
    """Stop the procedures alerts started that still run (``inv down``); their names."""
    from runner.runtime.process import terminate

    stopped = []
    for entry in Ledger(state).entries().values():
        if entry_running(entry) and terminate(int(entry["pid"]), entry.get("pid_start")):
            stopped.append(f"{entry.get('playbook')} for {entry.get('service')} "
                           f"(pid {entry['pid']})")
    return stopped
