"""``inv ack ALERT`` / ``inv ack list``: acknowledge the pages the monitor opened (P0 pages not
acknowledged within their response time escalate; runner/monitor/escalation.py)."""

from __future__ import annotations

import json
import time
from pathlib import Path

from runner.errors import PermanentError
from runner.monitor.escalation import acknowledge, open_pages


def ack_command(alert: str = "", env_name: str = "dev", as_json: bool = False,
                root: Path | None = None) -> int:
    """``inv ack ALERT``: acknowledge open pages; ``alert=""`` (``inv ack list``) lists them."""
    from runner.monitor.server import load_context
    from runner.state import actor

    ctx = load_context(env_name, root)
    if not alert:
        pages = open_pages(ctx.state)
        if as_json:
            print(json.dumps(pages, indent=2, default=str))
        for p in [] if as_json else pages:
            age = (time.time() - float(p["opened_at"])) / 60
            late = " ESCALATED" if p.get("escalated") else ""
            print(f"{p['severity']}  {p['key']}  {p['title']}  {p.get('service', '')}  "
                  f"open {age:.0f} min{late}")
        if not pages and not as_json:
            print("no open pages")
        return 0
    done = acknowledge(ctx.state, alert, actor=actor())
    if not done:
        raise PermanentError(f"no open page matches {alert!r} (inv ack list shows them)")
    for p in done:
        print(f"acknowledged {p['severity']} {p['title']} ({p['key']})")
    return 0
