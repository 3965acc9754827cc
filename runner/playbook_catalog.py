"""The toolkit's playbook modules beyond the engine's built-ins, in one explicit list.

``run_playbook`` knows only its built-ins; a caller hands it the rest (``modules=``). This
is the list the commands, the alert procedures and ``inv playbook`` pass, so the runbook
playbooks (deploy, rollback, retrain) find ``service``, ``rollback``, ``watch``,
``retrain_*`` and ``promote``. It sits above the packages it names: nothing below imports
it. A new package with modules adds its list here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from runner.playbook.modules import Module


def toolkit_modules() -> dict[str, type[Module]]:
    """Every toolkit module by task key (a fresh dict)."""
    # Imported on call: `inv --list` and built-in-only runs do not pay for these packages.
    from runner.lifecycle.retrain_modules import retrain_modules
    from runner.maintenance.modules import maintenance_modules
    from runner.operations.service_modules import service_modules

    return {**service_modules(), **retrain_modules(), **maintenance_modules()}
