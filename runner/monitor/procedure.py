"""A procedure started by an alert, run detached from the webhook process.

``python -m runner.monitor.procedure PLAYBOOK [--env dev] [-e name=value ...]``

Runs ``playbooks/PLAYBOOK.yaml`` through the playbook engine with the alert's variables
(service, alert, fingerprint, reason, and for rollbacks the revision to undo) and writes
the outcome to the audit log, so the webhook's "started" event always gets its "finished".
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from runner.errors import PermanentError, ToolkitError
from runner.monitor import store


def parse_vars(pairs: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise PermanentError(f"-e expects name=value, got {pair!r}")
        out[name] = value
    return out

def run(playbook: str, variables: dict[str, str], env: str) -> tuple[bool, str]:
    """Run the playbook; returns (ok, one-line summary)."""
    from runner.state.paths import repo_root

    path = repo_root() / "playbooks" / f"{playbook}.yaml"
    if not path.is_file():
        raise PermanentError(f"playbooks/{playbook}.yaml does not exist")
    try:
        from runner.playbook import run_playbook  # type: ignore[attr-defined]
    except ImportError:
        raise PermanentError("the playbook engine has no run_playbook yet") from None
    result: Any = run_playbook(path, extra_vars=dict(variables, env=env))
    ok = not bool(getattr(result, "failed", False))
    return ok, str(getattr(result, "summary", "") or ("ok" if ok else "failed"))

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m runner.monitor.procedure")
    parser.add_argument("playbook")
    parser.add_argument("--env", default="dev")
    parser.add_argument("-e", dest="extra", action="append", default=[])
    args = parser.parse_args(argv)
    began = time.monotonic()
    variables: dict[str, str] = {}
    try:
        variables = parse_vars(args.extra)
        ok, summary = run(args.playbook, variables, args.env)
    except ToolkitError as exc:
        ok, summary = False, exc.one_line()
    except Exception as exc:  # noqa: BLE001 - the audit log must hear about any end
        ok, summary = False, f"{type(exc).__name__}: {exc}"
    store.audit(
        store.PROCEDURE_FINISHED, service=variables.get("service", ""),
        outcome="success" if ok else "failed", playbook=args.playbook, vars=variables,
        summary=summary, duration_s=round(time.monotonic() - began, 3),
        state=None,
    )
    print(f"{args.playbook}: {'ok' if ok else 'failed'}: {summary}", file=sys.stderr)
    return 0 if ok else 1

if __name__ == "__main__":
    sys.exit(main())

__all__ = ["Path", "main", "parse_vars", "run"]
