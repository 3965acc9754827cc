"""``inv playbook NAME``: a runbook playbook with the toolkit's modules (deploy, rollback,
retrain need ``service``, ``rollback``, ``watch``, ``retrain_*``, ``promote``)."""

from __future__ import annotations

from collections.abc import Iterable


def playbook_command(name: str, extra_vars: Iterable[str] = (), check: bool = False,
                     diff: bool = False, tags: str | None = None) -> int:
    """``inv playbook NAME [-e k=v] [--check] [--diff] [--tags a,b]`` -> exit code."""
    from runner.playbook import playbook_command as run
    from runner.playbook_catalog import toolkit_modules

    return run(name, extra_vars, check=check, diff=diff, tags=tags, modules=toolkit_modules())


def main(argv: list[str] | None = None) -> int:
    """``python -m runner.commands FILE ...``: ``python -m runner.playbook`` plus the
    toolkit's modules."""
    from runner.playbook.__main__ import main as run
    from runner.playbook_catalog import toolkit_modules

    return run(argv, modules=toolkit_modules(), prog="python -m runner.commands")
