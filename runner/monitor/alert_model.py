"""Alerts as the monitor sees them: parsed from Alertmanager's webhook (version 4) or API v2.

One ``Alert`` shape for both sources, with the two things every consumer asks first:
which threshold of the runbook table it is (``kind``: error_rate, latency_p99_s, cpu,
memory, drift_share) and which runbook section to follow.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from runner.errors import PermanentError

# The runbook table's rows (runner.spec.models.AlertsSpec fields) and the words that
# identify them in an alert name when the rule carries no ``kind`` label.
KINDS: dict[str, tuple[str, ...]] = {
    "error_rate": ("error_rate", "errorrate", "errors"),
    "latency_p99_s": ("latency",),
    "cpu": ("cpu",),
    "memory": ("memory", "mem_"),
    "drift_share": ("drift",),
}
RUNBOOK_DOC = "docs/runbook.md"
SEVERITY_RANK = {"info": 0, "warning": 1, "critical": 2}


@dataclass(frozen=True)
class Alert:
    name: str
    status: str  # firing | resolved (webhook); active | suppressed | unprocessed (API v2)
    severity: str
    service: str
    kind: str
    fingerprint: str
    starts_at: str
    ends_at: str = ""
    summary: str = ""
    runbook: str = ""
    labels: Mapping[str, str] = field(default_factory=dict)

    @property
    def firing(self) -> bool:
        return self.status in ("firing", "active")

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "status": self.status, "severity": self.severity,
            "service": self.service, "kind": self.kind, "fingerprint": self.fingerprint,
            "starts_at": self.starts_at, "ends_at": self.ends_at, "summary": self.summary,
            "runbook": self.runbook, "labels": dict(self.labels),
        }


def kind_of(labels: Mapping[str, str]) -> str:
    """The runbook row of an alert: its ``kind`` label, else guessed from its name."""
    explicit = labels.get("kind", "")
    if explicit:
        return explicit
    name = _snake(labels.get("alertname", ""))
    for kind, words in KINDS.items():
        if any(word in name for word in words):
            return kind
    return ""


def runbook_section(kind: str, annotations: Mapping[str, str]) -> str:
    """Where to read what to do: the rule's runbook annotation, else the table's section."""
    for key in ("runbook_url", "runbook"):
        if annotations.get(key):
            return annotations[key]
    from runner.render.alert_rules import KIND_INFO  # the anchors the rendered rules use

    if kind in KIND_INFO:
        return f"{RUNBOOK_DOC}#{KIND_INFO[kind][2]}"
    return RUNBOOK_DOC


def parse(raw: Mapping[str, Any], *, status: str | None = None) -> Alert:
    """One alert from a webhook payload's ``alerts[]`` or from ``GET /api/v2/alerts``."""
    labels = raw.get("labels")
    if not isinstance(labels, Mapping) or "alertname" not in labels:
        raise PermanentError("alert without labels.alertname")
    labels = {str(k): str(v) for k, v in labels.items()}
    given = raw.get("annotations") or {}
    if not isinstance(given, Mapping):  # a list here was a 500 and a traceback (fuzzing)
        raise PermanentError("alert annotations must be an object")
    annotations = {str(k): str(v) for k, v in given.items()}
    state = status or raw.get("status", "")
    if isinstance(state, Mapping):  # API v2: {"state": "active", "silencedBy": [...]}
        state = state.get("state", "")
    kind = kind_of(labels)
    return Alert(
        name=labels["alertname"],
        status=str(state),
        severity=labels.get("severity", "warning"),
        service=labels.get("service", ""),
        kind=kind,
        fingerprint=str(raw.get("fingerprint") or _fallback_fingerprint(labels)),
        starts_at=str(raw.get("startsAt", "")),
        ends_at=str(raw.get("endsAt", "")),
        summary=annotations.get("summary") or annotations.get("description", ""),
        runbook=runbook_section(kind, annotations),
        labels=labels,
    )


def parse_webhook(payload: Any) -> list[Alert]:
    """The alerts of an Alertmanager webhook payload (version 4)."""
    if not isinstance(payload, Mapping):
        raise PermanentError("webhook payload must be a JSON object")
    version = str(payload.get("version", "4"))
    if version != "4":
        raise PermanentError(f"unsupported Alertmanager webhook version {version}")
    items = payload.get("alerts")
    if not isinstance(items, list):
        raise PermanentError("webhook payload has no alerts list")
    return [parse(item) for item in items if isinstance(item, Mapping)]


def _snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()


def _fallback_fingerprint(labels: Mapping[str, str]) -> str:
    # Alertmanager always sends one; this keeps hand-posted alerts deduplicable too.
    import hashlib

    text = ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
    return hashlib.sha256(text.encode()).hexdigest()[:16]
