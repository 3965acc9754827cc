"""Every change to a service runs under the apply lock, taken once per process.

``inv reconcile``, a rollback, a promotion and a procedure started by an alert all change
services and specs; two at once would race (issue 13, item 7). The outermost caller takes
the lock (``apply``, ``inv rollback``, an alert's procedure); an operation called inside
it finds this process holding it and goes on, and one run on its own takes it itself.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager

from runner.operations.specedit import recover_spec_edit
from runner.operations.workspace import Env
from runner.state.lock import Holder, apply_lock, holder
from runner.state.state_store import StateStore


def held_here(store: StateStore) -> bool:
    """Does this process hold the apply lock now?"""
    found = holder(store)
    return found is not None and found.pid == os.getpid() and found.host == socket.gethostname()


@contextmanager
def holding_apply_lock(env: Env, *, enabled: bool = True) -> Iterator[Holder | None]:
    """The ``with`` body under the apply lock (LockHeld at once when another process has
    it); nested use, or ``enabled=False`` (check mode changes nothing), takes nothing."""
    if not enabled or held_here(env.store):
        yield None
        return
    with apply_lock(env.store, actor=env.actor) as taken_over:
        if taken_over is not None:
            env.progress(f"took over the apply lock from {taken_over.describe()}")
        recovered = recover_spec_edit(env.root)
        if recovered:  # a runner killed between a spec edit and its commit (issue 13)
            env.progress(recovered)
            env.store.audit("spec_edit_recovered", actor=env.actor, outcome="ok",
                            detail=recovered)
            env.reload()
        yield taken_over
