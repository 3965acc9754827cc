"""``python -m runner.playbook FILE [-e k=v ...] [--check] [--diff] [--tags a,b]``.

The same run as ``inv playbook`` without invoke's start-up (used by bench/playbooks.py).
"""

from __future__ import annotations

import argparse
import sys

from runner.errors import ToolkitError
from runner.playbook.api import parse_extra_vars, run_playbook


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m runner.playbook")
    parser.add_argument("playbook")
    parser.add_argument("-e", "--extra-vars", action="append", default=[])
    parser.add_argument("--check", action="store_true")
    parser.add_argument("--diff", action="store_true")
    parser.add_argument("--tags", default=None)
    parser.add_argument("-q", "--quiet", action="store_true", help="only the recap line")
    ns = parser.parse_args(argv)
    try:
        result = run_playbook(
            ns.playbook,
            parse_extra_vars(ns.extra_vars),
            check=ns.check,
            diff=ns.diff,
            tags=ns.tags.split(",") if ns.tags else None,
            output=None if ns.quiet else sys.stdout,
        )
    except ToolkitError as exc:
        print(exc.one_line(), file=sys.stderr)
        return exc.exit_code
    if ns.quiet:
        print(result.recap())
    return result.exit_code


if __name__ == "__main__":
    sys.exit(main())
