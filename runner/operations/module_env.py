"""The Env a playbook module works in: the one its caller lent the run, else its own.

Every operations module (``service``, ``rollback``, ``watch``, ``preflight``) and the
maintenance modules act in the ``Env`` the caller opened (``run_playbook(...,
resources={ENV: env})``: apply, rollback, alert procedures); a playbook run on its own
(``inv playbook deploy -e service=x``) opens one once per run, closed at its end.
"""

from __future__ import annotations

from runner.operations.workspace import Env, open_env
from runner.playbook.modules import ModuleContext

ENV = "operations.env"  # resources key: the Env the caller opened (else one per run)
_OWN_ENV = "operations.own_env"  # cache key: the Env a standalone run opened


def env_for(ctx: ModuleContext) -> Env:
    """The caller's Env for this run, else one opened once per run (closed at its end)."""
    lent = ctx.resources.get(ENV)
    if isinstance(lent, Env):
        return lent
    own = ctx.cache.get(_OWN_ENV)
    if not isinstance(own, Env):
        own = open_env(ctx.root, str(ctx.variables.get("environment") or "dev"))
        ctx.cache[_OWN_ENV] = own
        ctx.on_close(own.store.close)
    return own
