"""Service operations: decide, deploy, remove, roll back one service; the production
alias, the post-deploy watch, spec edits and their commit.

The deploy path runs one way: ``runner.reconcile`` plans and hands each action to the
deploy playbook, whose modules (``runner.operations.service_modules``) call the functions
here, which act through the runtime and record in the state store. Nothing here imports
reconcile or the commands.

Public API::

    env = open_env(root, "dev")                    # specs, state store, runtime, registry URI
    action = decide(env, "bankchurn")              # what the service needs now, and why
    outcome = deploy(env, "bankchurn", action=action)   # converge exactly that
    rollback(env, "bankchurn", reason="error spike")    # pin, commit, converge
"""

from runner.operations.decide import Action, Kind, plan_service
from runner.operations.deployment import (
    Outcome,
    check_registry,
    decide,
    deploy,
    record_revision,
    remove,
    watch_after_deploy,
)
from runner.operations.desired import replica_spec, spec_hash
from runner.operations.gitops_rollback import rollback, rollback_target
from runner.operations.locking import held_here, holding_apply_lock
from runner.operations.production_alias import set_production_alias
from runner.operations.specedit import commit_spec, edit_service_spec, restored_on_failure
from runner.operations.workspace import Env, open_env

__all__ = [
    "Action",
    "Env",
    "Kind",
    "Outcome",
    "check_registry",
    "commit_spec",
    "decide",
    "deploy",
    "edit_service_spec",
    "held_here",
    "holding_apply_lock",
    "open_env",
    "plan_service",
    "record_revision",
    "remove",
    "replica_spec",
    "restored_on_failure",
    "rollback",
    "rollback_target",
    "set_production_alias",
    "spec_hash",
    "watch_after_deploy",
]
