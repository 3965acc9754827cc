"""Notification sinks from the platform spec: append to a file, or POST to a webhook.

Webhook URLs usually embed a token, so the spec holds only a reference (an environment
variable or a file) and nothing here ever prints, logs or audits the URL itself; failures
name the sink and the reference instead.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runner.monitor.alert_model import SEVERITY_RANK
from runner.spec.models import NotificationSink, SecretRef
from runner.state.paths import private_opener, state_dir

WEBHOOK_TIMEOUT_S = 3.0


@dataclass(frozen=True)
class Delivery:
    sink: str
    ok: bool
    msg: str

    def as_dict(self) -> dict[str, Any]:
        return {"sink": self.sink, "ok": self.ok, "msg": self.msg}


def resolve_file(path: str, root: Path, configured_state: str = ".state") -> Path:
    """A sink path as written in the spec: ``.state/...`` follows ``MLGITOPS_STATE_DIR``.

    Tests and CI move the state directory; a notification log configured under it must
    move along instead of landing in the real checkout.
    """
    candidate = Path(path)
    if candidate.is_absolute():
        return candidate
    head = Path(configured_state)
    if not head.is_absolute() and candidate.parts[: len(head.parts)] == head.parts:
        return state_dir(root, configured_state) / Path(*candidate.parts[len(head.parts) :])
    return root / candidate


def secret_value(ref: SecretRef, root: Path) -> str | None:
    """The referenced value, or None when the variable or file is not there."""
    if ref.env:
        return os.environ.get(ref.env) or None
    assert ref.file is not None
    target = Path(ref.file) if Path(ref.file).is_absolute() else root / ref.file
    try:
        return target.read_text().strip() or None
    except OSError:
        return None


def _describe(ref: SecretRef) -> str:
    return f"env {ref.env}" if ref.env else f"file {ref.file}"


def deliver(
    sinks: Sequence[NotificationSink],
    message: Mapping[str, Any],
    *,
    severity: str,
    root: Path,
    configured_state: str = ".state",
) -> list[Delivery]:
    """Send ``message`` to every sink whose ``min_severity`` admits ``severity``."""
    rank = SEVERITY_RANK.get(severity, SEVERITY_RANK["warning"])
    out: list[Delivery] = []
    for sink in sinks:
        if rank < SEVERITY_RANK[sink.min_severity]:
            continue
        if sink.type == "file":
            assert sink.path is not None
            target = resolve_file(sink.path, root, configured_state)
            out.append(_to_file(sink.name, target, message))
        else:
            assert sink.url is not None
            out.append(_to_webhook(sink.name, sink.url, root, message))
    return out


def _to_file(name: str, path: Path, message: Mapping[str, Any]) -> Delivery:
    line = json.dumps({"at": time.time(), **message}, sort_keys=True, default=str)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # One write of one line under O_APPEND: concurrent writers do not interleave.
        with open(path, "a", encoding="utf-8", opener=private_opener) as out:
            out.write(line + "\n")
    except OSError as exc:
        return Delivery(name, False, f"cannot append to {path}: {exc.strerror}")
    return Delivery(name, True, f"appended to {path}")


def _to_webhook(name: str, ref: SecretRef, root: Path, message: Mapping[str, Any]) -> Delivery:
    import httpx

    url = secret_value(ref, root)
    if url is None:
        return Delivery(name, False, f"not sent: {_describe(ref)} is not set")
    try:
        response = httpx.post(url, json=dict(message), timeout=WEBHOOK_TIMEOUT_S)
    except httpx.HTTPError as exc:
        # The exception text may contain the URL: report only its type.
        return Delivery(name, False, f"not sent ({_describe(ref)}): {type(exc).__name__}")
    if response.status_code >= 400:
        return Delivery(name, False, f"rejected ({_describe(ref)}): HTTP {response.status_code}")
    return Delivery(name, True, f"sent ({_describe(ref)}): HTTP {response.status_code}")
