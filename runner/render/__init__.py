"""Render every deployable artifact of an environment from the typed ``Platform``.

Public API: ``render_all(platform) -> {relative path: text}`` (pure), ``write(root, env, files)``
and ``check(root, env, files)`` for ``generated/<env>/``; ``render_command`` backs ``inv render``.
"""

from runner.render.artifacts import render_all
from runner.render.generated_files import CheckResult, check, write

__all__ = ["CheckResult", "check", "render_all", "write"]
