"""``inv preflight --service S``: the pre-deployment checklist, one line per check."""

from __future__ import annotations

import json

from runner.operations import open_env
from runner.operations.preflight_checks import failed, preflight


def preflight_command(service: str, env_name: str = "dev", as_json: bool = False,
                      skip: str = "") -> int:
    """Print every check (OK, skip, or the problem and its fix); exit 1 when one fails."""
    env = open_env(None, env_name, quiet=True)
    try:
        checks = preflight(env, service, skip=frozenset(filter(None, skip.split(","))))
    finally:
        env.store.close()
    bad = failed(checks)
    if as_json:
        print(json.dumps({"ok": not bad, "checks": [c.__dict__ for c in checks]}, indent=2))
    else:
        for check in checks:
            print(check.line())
        print(f"preflight {service}: " + ("ok" if not bad else
                                         "FAILED: " + ", ".join(c.name for c in bad)))
    return 1 if bad else 0
