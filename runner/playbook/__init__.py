"""Playbook engine: Ansible-style YAML plays run locally, with one result shape.

Public API::

    from runner.playbook import run_playbook
    result = run_playbook("playbooks/deploy.yaml", {"service": "bankchurn"}, check=True)
    result.exit_code, result.stats, result.records, result.facts, result.log_path

Modules (and how other packages add theirs): see ``runner.playbook.modules``.
"""

from runner.playbook.api import parse_extra_vars, playbook_command, resolve_playbook, run_playbook
from runner.playbook.modules import Module, ModuleContext, register
from runner.playbook.result import Result, RunResult, Stats, TaskRecord, render_diff

__all__ = [
    "Module",
    "ModuleContext",
    "Result",
    "RunResult",
    "Stats",
    "TaskRecord",
    "parse_extra_vars",
    "playbook_command",
    "register",
    "render_diff",
    "resolve_playbook",
    "run_playbook",
]
