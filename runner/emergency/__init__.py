"""The runbook's emergency procedures, automated: ``inv emergency service-down`` and
``inv emergency data-corruption`` (issue 11 item 4). Each writes a report under
``<state>/reports/`` and pages (P0) when it could not recover.

Layering: a command-level package (beside ``runner.commands``, whose rollback and health
it reuses); nothing imports it but tasks.py.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

KINDS = ("service-down", "data-corruption")


def emergency_command(kind: str, service: str, env_name: str = "dev", retrain: bool = False,
                      rollback: bool = True, as_json: bool = False,
                      root: Path | None = None) -> int:
    """Run one procedure; exit 0 when the service is (again) fine, 1 when not."""
    from runner.errors import PermanentError

    if kind == "service-down":
        from runner.emergency.service_down import service_down

        report = service_down(service, env_name, root, rollback=rollback)
    elif kind == "data-corruption":
        from runner.emergency.data_corruption import data_corruption

        report = data_corruption(service, env_name, retrain=retrain, root=root)
    else:
        raise PermanentError(f"unknown emergency {kind!r}: one of {', '.join(KINDS)}")
    if as_json:
        print(json.dumps(report, indent=2, default=str))
    else:
        for step in report["steps"]:
            print(f"{'ok    ' if step['ok'] else 'FAILED'} {step['name']}: {step['msg']}")
        print(f"{report['outcome']}: {report['summary']}")
        print(f"report: {report['report']}", file=sys.stderr)
    return 0 if report["outcome"] in ("healthy", "recovered", "valid", "restored") else 1
