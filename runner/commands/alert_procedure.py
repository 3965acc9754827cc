"""A procedure started by an alert, run detached from the webhook process.

``python -m runner.commands.alert_procedure PLAYBOOK [--env dev] [-e name=value ...]``

Runs ``playbooks/PLAYBOOK.yaml`` through the playbook engine with the alert's variables
(service, alert, fingerprint, reason, and for rollbacks the revision to undo) and writes
the outcome to the audit log, so the webhook's "started" event always gets its "finished".

The whole procedure (the "is that revision still current" check and the playbook) runs
under the apply lock, like ``inv reconcile``: the two never change a service at once. A
held lock is waited for (``LOCK_WAIT_S``), then the check decides on what is current.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from runner.errors import LockHeld, PermanentError, ToolkitError
from runner.monitor import audit_access as store
from runner.schedule.gates import RISK_REDUCING, refuse_if_frozen

LOCK_WAIT_S = 300.0  # an apply in progress (deploy + post-deploy watch) ends well within this


def parse_vars(pairs: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise PermanentError(f"-e expects name=value, got {pair!r}")
        out[name] = value
    return out

@contextmanager
def apply_lock_waiting(state: Path, who: str, wait_s: float) -> Iterator[None]:
    """Hold the apply lock for the ``with`` body, waiting up to ``wait_s`` for a live holder."""
    from runner.state import StateStore
    from runner.state.lock import acquire, release

    db = StateStore(state)
    try:
        deadline = time.monotonic() + wait_s
        while True:
            try:
                acquire(db, actor=who)
                break
            except LockHeld:
                if time.monotonic() >= deadline:
                    raise
                time.sleep(1.0)
        try:
            yield
        finally:
            release(db)
    finally:
        db.close()


def run(playbook: str, variables: dict[str, str], env: str) -> tuple[str, str]:
    """Run the playbook; returns (outcome, one-line summary). Outcome: success|failed|skipped."""
    from runner.state.paths import repo_root, state_dir

    root = repo_root()
    path = root / "playbooks" / f"{playbook}.yaml"
    if not path.is_file():
        raise PermanentError(f"playbooks/{playbook}.yaml does not exist")
    with apply_lock_waiting(state_dir(root), f"alert procedure {playbook}", LOCK_WAIT_S):
        return _run_locked(root, path, variables, env)


def _run_locked(root: Path, path: Path, variables: dict[str, str], env: str
                ) -> tuple[str, str]:
    from runner.playbook import run_playbook
    from runner.playbook_catalog import toolkit_modules
    from runner.state.paths import state_dir

    service, revision = variables.get("service", ""), variables.get("revision", "")
    if revision:
        # The alert named the deploy to undo; if another deploy replaced it meanwhile,
        # rolling back "the previous revision" would undo the wrong one.
        current = store.deployed().get(service)
        if current is None or str(current.revision) != revision:
            now = current.revision if current else "none"
            return "skipped", f"revision {revision} of {service} is no longer current ({now})"
    if path.stem not in RISK_REDUCING:  # a freeze window refuses all but rollbacks
        _refuse_if_frozen(root, env, f"alert procedure {path.stem}", service)
    result = run_playbook(
        path, {**variables, "environment": env}, root=root, state_dir=state_dir(root),
        output=sys.stdout, modules=toolkit_modules(),
    )
    return ("success" if result.exit_code == 0 else "failed"), result.recap()


def _refuse_if_frozen(root: Path, env_name: str, what: str, service: str) -> None:
    from runner.operations import open_env

    env = open_env(root, env_name, quiet=True)
    try:
        refuse_if_frozen(env, what, service=service)
    finally:
        env.store.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m runner.commands.alert_procedure")
    parser.add_argument("playbook")
    parser.add_argument("--env", default="dev")
    parser.add_argument("-e", dest="extra", action="append", default=[])
    args = parser.parse_args(argv)
    began = time.monotonic()
    variables: dict[str, str] = {}
    try:
        variables = parse_vars(args.extra)
        outcome, summary = run(args.playbook, variables, args.env)
    except ToolkitError as exc:
        outcome, summary = "failed", exc.one_line()
    except Exception as exc:  # noqa: BLE001 - the audit log must hear about any end
        outcome, summary = "failed", f"{type(exc).__name__}: {exc}"
    store.audit(
        store.PROCEDURE_FINISHED, service=variables.get("service", ""), outcome=outcome,
        playbook=args.playbook, vars=variables, summary=summary,
        duration_s=round(time.monotonic() - began, 3),
    )
    print(f"{args.playbook}: {outcome}: {summary}", file=sys.stderr)
    return 1 if outcome == "failed" else 0


if __name__ == "__main__":
    sys.exit(main())
