"""The command layer: what the invoke tasks (``tasks.py``) call.

``converge``: ``inv plan``, ``reconcile``, ``deploy``, ``rollback``. ``status``:
``inv status``, ``history``. ``platform_up``: ``inv up``, ``down``, ``health``.
``runbook``: ``inv playbook`` with the toolkit's modules. Each command opens what it needs
(``runner.operations.open_env``), prints its output and returns the exit code; nothing
below this layer imports it.
"""
