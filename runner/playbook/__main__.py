"""``python -m runner.playbook FILE [-e k=v ...] [--check] [--diff] [--tags a,b]``.

The same run as ``inv playbook`` without invoke's start-up (used by bench/playbooks.py),
with the engine's built-in modules only: this package does not import the toolkit's. The
command layer reuses ``main(argv, modules=...)`` to add them (``python -m runner.commands``).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Mapping

from runner.errors import ToolkitError
from runner.playbook.api import parse_extra_vars, run_playbook
from runner.playbook.modules import Module


def _cpu() -> float:
    """User+system seconds of this process and its finished children (commands it ran)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def main(argv: list[str] | None = None, modules: Mapping[str, type[Module]] | None = None,
         prog: str = "python -m runner.playbook") -> int:
    parser = argparse.ArgumentParser(prog=prog)
    parser.add_argument("playbook")
    parser.add_argument("-e", "--extra-vars", action="append", default=[])
    parser.add_argument("--check", action="store_true")
    parser.add_argument("--diff", action="store_true")
    parser.add_argument("--tags", default=None)
    parser.add_argument("-q", "--quiet", action="store_true", help="only the recap line")
    parser.add_argument("--timing", action="store_true",
                        help="print the run's wall and CPU seconds (no imports; commands in)")
    ns = parser.parse_args(argv)
    wall, cpu = time.perf_counter(), _cpu()
    try:
        result = run_playbook(
            ns.playbook,
            parse_extra_vars(ns.extra_vars),
            check=ns.check,
            diff=ns.diff,
            tags=ns.tags.split(",") if ns.tags else None,
            output=None if ns.quiet else sys.stdout,
            modules=modules,
        )
    except ToolkitError as exc:
        print(exc.one_line(), file=sys.stderr)
        return exc.exit_code
    if ns.quiet:
        print(result.recap())
    if ns.timing:
        print(f"TIMING run_s={time.perf_counter() - wall:.6f} cpu_s={_cpu() - cpu:.6f}")
    return result.exit_code


if __name__ == "__main__":
    sys.exit(main())
