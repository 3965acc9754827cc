"""An emergency that did not end well reaches people at its severity (``emergency:<kind>``)."""

from __future__ import annotations

import time

from runner.operations import Env


def page(env: Env, kind: str, service: str, summary: str) -> None:
    from runner.monitor import escalation

    escalation.page(env.platform, env.state, event=f"emergency:{kind}",
                    key=f"emergency-{kind}-{service}-{int(time.time())}",
                    title=f"emergency {kind}", service=service, detail={"summary": summary})
