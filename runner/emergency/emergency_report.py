"""An emergency's report: JSON (for tools) and Markdown (for people) under
``<state>/reports/``, and one audit event that points at them."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from runner.state.paths import private_dir, private_opener


def write_report(state: Path, kind: str, service: str, report: dict[str, Any]) -> Path:
    """Write ``emergency-<kind>-<service>-<time>.{json,md}``; the JSON path."""
    folder = private_dir(state / "reports")
    stem = f"emergency-{kind}-{service}-{time.strftime('%Y%m%dT%H%M%S')}"
    path = folder / f"{stem}.json"
    with open(path, "w", opener=private_opener) as out:
        out.write(json.dumps(report, indent=2, default=str))
    with open(folder / f"{stem}.md", "w", opener=private_opener) as out:
        out.write(markdown(kind, service, report))
    return path


def markdown(kind: str, service: str, report: dict[str, Any]) -> str:
    lines = [f"# Emergency {kind}: {service}", "",
             f"Outcome: **{report.get('outcome', '?')}** - {report.get('summary', '')}", ""]
    for step in report.get("steps", []):
        mark = "ok" if step.get("ok") else "FAILED"
        lines.append(f"- [{mark}] {step['name']}: {step.get('msg', '')}")
    for title, key in (("Endpoints", "health"), ("Recent deploys", "deploys")):
        rows = report.get(key) or []
        if rows:
            lines += ["", f"## {title}", ""]
            lines += [f"- {json.dumps(r, default=str)}" for r in rows]
    for log in report.get("logs", []):
        lines += ["", f"## Log {log['replica']} ({log['path']})", "", "```",
                  *log["tail"], "```"]
    return "\n".join(lines) + "\n"
