"""Playbook engine: Ansible-style YAML plays run locally, with one result shape.

Public API::

    from runner.playbook import run_playbook
    result = run_playbook("playbooks/deploy.yaml", {"service": "bankchurn"}, check=True)
    result.exit_code, result.stats, result.records, result.facts, result.log_path

Command line: ``inv playbook NAME [-e k=v ...] [--check] [--diff] [--tags a,b]`` (NAME is
``playbooks/NAME.yaml``), or ``python -m runner.playbook FILE ...``.

A playbook is a list of plays: ``name``, ``vars``, ``tasks``, ``handlers`` (``hosts``,
``tags``, ``gather_facts`` accepted). A task is one module key plus keywords: ``name``,
``when``, ``loop`` (+ ``loop_var`` / ``loop_control: {loop_var, label}``), ``register``,
``retries``/``until``/``delay``, ``notify``, ``tags``, ``ignore_errors``, ``vars``,
``changed_when``, ``failed_when``, ``check_mode``, ``no_log``; blocks: ``block``/``rescue``/
``always`` (+ ``name``, ``when``, ``tags``, ``vars``). Handlers may ``listen``.

Built-in modules: set_fact, assert, debug, command (argv list), include, http, wait_for,
template, copy, render, notify, dvc, mlflow. Any other module is handed in by the caller
(``run_playbook(..., modules={"key": Class})``; the toolkit's list is
``runner.playbook_catalog.toolkit_modules()``), and per-run objects as ``resources=``.
Module authors: see ``runner.playbook.modules``.

Variables, highest precedence first: loop item, ``-e`` extra vars, include vars, facts
(set_fact, register), task vars, block vars, play vars, magic vars (``playbook_dir``,
``root``, ``state_dir``, ``check_mode``, ``diff_mode``, ``play_name``; in a rescue
``failed_task`` and ``failed_result``). Strings that are exactly one ``{{ expr }}`` keep
the expression's type.
"""

from runner.playbook.api import parse_extra_vars, playbook_command, resolve_playbook, run_playbook
from runner.playbook.modules import Module, ModuleContext, ModuleSet, builtin_modules
from runner.playbook.result import Result, RunResult, Stats, TaskRecord, render_diff

__all__ = [
    "Module",
    "ModuleContext",
    "ModuleSet",
    "Result",
    "RunResult",
    "Stats",
    "TaskRecord",
    "parse_extra_vars",
    "playbook_command",
    "builtin_modules",
    "render_diff",
    "resolve_playbook",
    "run_playbook",
]
