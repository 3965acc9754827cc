"""Progress of a long step (training a project, starting MLflow) with its elapsed time.

On a terminal one line refreshes in place every second (``training bankchurn ... 12s``);
into a file or a pipe a line is written every ``PIPE_EVERY_S`` so a CI log shows the step
is alive without a line per second. The step ends with ``... done in 17.3s`` (or
``failed after``). Output goes to stderr, beside the other progress lines.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

PIPE_EVERY_S = 10.0


@contextmanager
def step(label: str, *, out: TextIO | None = None, tick_s: float = 1.0) -> Iterator[None]:
    """Show ``label`` with the elapsed time while the ``with`` body runs."""
    stream = out or sys.stderr
    tty = stream.isatty()
    began = time.monotonic()
    done = threading.Event()

    def ticker() -> None:
        last_line = began
        while not done.wait(tick_s):
            now = time.monotonic()
            if tty:
                stream.write(f"\r{label} ... {now - began:.0f}s")
                stream.flush()
            elif now - last_line >= PIPE_EVERY_S:
                stream.write(f"{label} ... {now - began:.0f}s\n")
                stream.flush()
                last_line = now

    stream.write(f"{label} ..." + ("" if tty else "\n"))
    stream.flush()
    thread = threading.Thread(target=ticker, name="progress", daemon=True)
    thread.start()
    outcome = "failed after"
    try:
        yield
        outcome = "done in"
    finally:
        done.set()
        thread.join()
        prefix = "\r" if tty else ""
        stream.write(f"{prefix}{label} ... {outcome} {time.monotonic() - began:.1f}s\n")
        stream.flush()
