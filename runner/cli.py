"""What every invoke task goes through: one-line errors, tracebacks only with --debug.

Kept free of heavy imports: ``inv validate`` must start in well under a second.
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Callable
from typing import Any, TypeVar

from invoke.exceptions import Exit

from runner.errors import ToolkitError

T = TypeVar("T")


def debug_enabled() -> bool:
    """``inv --debug ...`` (invoke's own flag) or MLGITOPS_DEBUG=1."""
    return os.environ.get("MLGITOPS_DEBUG") == "1" or any(
        arg in ("-d", "--debug") for arg in sys.argv[1:2] + sys.argv[1:]
    )


def run(func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Call one library function for a task; turn toolkit errors into a clean exit."""
    try:
        return func(*args, **kwargs)
    except ToolkitError as exc:
        if debug_enabled():
            traceback.print_exc()
        print(exc.one_line(), file=sys.stderr)
        raise Exit(code=exc.exit_code) from None
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        raise Exit(code=130) from None


def exit_with(code: int) -> None:
    """End a task with an exit code that carries meaning (plan: 2 = changes, drift: 3)."""
    if code:
        raise Exit(code=code)
