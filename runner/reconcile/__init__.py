"""Reconcile: plan (specs against facts) and apply that plan through the deploy playbook.

``make_plan`` decides every service once (``runner.operations.decide``); ``apply`` takes
the apply lock, plans, and hands each action to ``playbooks/deploy.yaml``, whose modules
converge exactly it. The commands that drive this live in ``runner.commands``.
"""

from runner.reconcile.apply import ActionOutcome, ApplyResult, apply, run_action
from runner.reconcile.plan import Action, Plan, make_plan

__all__ = ["Action", "ActionOutcome", "ApplyResult", "Plan", "apply", "make_plan", "run_action"]
