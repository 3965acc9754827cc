"""Dependency and security report: ``pip-audit`` over the serving requirements and the
toolkit's own environment, written under ``<state>/reports/maintenance/``.

Offline-tolerant: when the advisory database cannot be reached the step says
"skipped: advisory database unreachable" instead of failing the maintenance; when
pip-audit is not installed it says so. Known vulnerabilities are reported (package,
version, advisory, fixed versions), not fatal: upgrading is a reviewed change.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

SERVING_REQUIREMENTS = "runner/serving/requirements.txt"
UNREACHABLE = "skipped: advisory database unreachable"
# What a network failure looks like in pip-audit's (requests') error output.
NETWORK_ERRORS = ("ConnectionError", "ProxyError", "MaxRetryError", "NewConnectionError",
                  "ConnectTimeout", "ReadTimeout", "NameResolutionError", "SSLError")


@dataclass
class AuditReport:
    target: str
    status: str  # audited | skipped | failed
    msg: str
    vulnerabilities: list[dict[str, Any]] = field(default_factory=list)
    audited: int = 0
    not_found: int = 0

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def pip_audit_command() -> list[str] | None:
    """pip-audit from this interpreter's environment, else from PATH, else None."""
    beside = Path(sys.executable).with_name("pip-audit")
    if beside.is_file():
        return [str(beside)]
    found = shutil.which("pip-audit")
    return [found] if found else None


def toolkit_pins() -> str:
    """The toolkit's environment as pinned requirements (what is installed now)."""
    pins = sorted({f"{d.metadata['Name']}=={d.version}" for d in metadata.distributions()
                   if d.metadata["Name"] and d.metadata["Name"].lower() != "mlgitops"})
    return "\n".join(pins) + "\n"


def audit_file(requirements: Path, target: str, *, cache_dir: Path,
               timeout_s: float = 15.0) -> AuditReport:
    """``pip-audit -r FILE --no-deps``: pinned lines are looked up as they are, nothing is
    resolved or installed."""
    cmd = pip_audit_command()
    if cmd is None:
        return AuditReport(target, "skipped", "skipped: pip-audit is not installed "
                           "(scripts/setup.sh installs it)")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "report.json"
        proc = subprocess.run(
            [*cmd, "-r", str(requirements), "--no-deps", "--disable-pip", "-f", "json",
             "-o", str(out), "--progress-spinner", "off", "--timeout", str(int(timeout_s)),
             "--cache-dir", str(cache_dir)],
            capture_output=True, text=True, check=False, timeout=timeout_s * 40,
            env={**os.environ, "PIP_NO_INPUT": "1"},
        )
        data = json.loads(out.read_text()) if out.is_file() else None
    if data is None:
        if any(err in proc.stderr for err in NETWORK_ERRORS):
            return AuditReport(target, "skipped", UNREACHABLE)
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return AuditReport(target, "failed", f"pip-audit failed: {tail[:300]}")
    return _summarise(target, data)


def _summarise(target: str, data: dict[str, Any]) -> AuditReport:
    deps = data.get("dependencies", [])
    vulns = [{"package": d["name"], "version": d.get("version"), "id": v.get("id"),
              "fix_versions": v.get("fix_versions", [])}
             for d in deps for v in d.get("vulns", [])]
    not_found = sum(1 for d in deps if d.get("skip_reason"))
    audited = len(deps) - not_found
    if audited == 0 and deps:
        return AuditReport(target, "skipped", f"{UNREACHABLE} (none of {len(deps)} packages "
                           "known to it)", [], 0, not_found)
    msg = (f"{len(vulns)} known vulnerabilit{'y' if len(vulns) == 1 else 'ies'} in "
           f"{audited} audited packages" + (f" ({not_found} not known to the advisory "
                                            "database)" if not_found else ""))
    return AuditReport(target, "audited", msg, vulns, audited, not_found)


def audit_all(root: Path, state: Path, *, timeout_s: float = 15.0) -> list[AuditReport]:
    """Serving requirements and the toolkit, one report each."""
    cache = state / "cache" / "pip-audit"
    cache.mkdir(parents=True, exist_ok=True)
    reports = [audit_file(root / SERVING_REQUIREMENTS, "serving", cache_dir=cache,
                          timeout_s=timeout_s)]
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as fh:
        fh.write(toolkit_pins())
    try:
        reports.append(audit_file(Path(fh.name), "toolkit", cache_dir=cache,
                                  timeout_s=timeout_s))
    finally:
        Path(fh.name).unlink(missing_ok=True)
    return reports
