"""``gc_paused()``: the cyclic garbage collector off for a block, back as it was after.

Loading 1,000 specs and rendering their files build hundreds of thousands of small objects
that are acyclic and stay alive until the block (or the command) ends. The cyclic GC frees
nothing among them, yet every collection walks them all again: a quarter of a spec load, a
sixth of a render, and 10-15 ms for its first pass once a loader turned it back on. Blocks
nest (only the outermost turns it back on), so a short-lived command can pause it around
the loader and the renderer that pause it themselves.

Reference counting still frees everything acyclic inside the block; only cycles wait for
the collector's next pass after it. Long-running processes (the reconcile loop, replicas)
pause it around one load or render, never for their whole life.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def gc_paused() -> Iterator[None]:
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
