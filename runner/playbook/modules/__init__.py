"""Playbook modules: the base class, the context a module runs with, and the REGISTRY.

Writing a module
----------------
A module is a small class with a pydantic ``Args`` model and ``run(args, ctx) -> Result``::

    from pydantic import BaseModel, ConfigDict
    from runner.playbook.modules import Module, ModuleContext, register
    from runner.playbook.result import Result

    class ServiceArgs(BaseModel):
        model_config = ConfigDict(extra="forbid")   # unknown arguments fail at load time
        name: str
        state: str = "deployed"

    class ServiceModule(Module):
        Args = ServiceArgs
        def run(self, args: ServiceArgs, ctx: ModuleContext) -> Result:
            plan = ...                                  # compute the plan/diff in both modes
            if plan and not ctx.check_mode:             # guard only the side effect
                ...
            return Result(changed=bool(plan), diff={"before": ..., "after": ...}, msg="why")

Rules: compute the diff in check mode too and guard only the side effect; explain a no-op
in ``msg``; never put secrets in ``msg``/``data``; import heavy libraries inside ``run``.
Raise ``runner.errors`` exceptions or return ``Result(failed=True, msg=...)`` to fail.

Registering a module
--------------------
``register(name, target)`` where ``target`` is the class or a lazy ``"pkg.module:Class"``
string (imported on first use, so the CLI does not pay for modules a playbook never uses).
Packages outside runner.playbook register theirs in a ``playbook_modules`` module, e.g.
``runner/reconcile/playbook_modules.py``::

    from runner.playbook.modules import register
    register("service", "runner.reconcile.service_module:ServiceModule")
    register("rollback", "runner.reconcile.service_module:RollbackModule")

Every package named in ``PLUGIN_PACKAGES`` is imported (if it exists) the first time a
playbook names a module that is not built in. Calling ``register`` directly before
``run_playbook`` works too (tests do that).
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel

from runner.errors import PlaybookError
from runner.playbook.result import Result


@dataclass
class ModuleContext:
    """What a module may use besides its arguments."""

    check_mode: bool
    diff_mode: bool
    variables: Mapping[str, Any]  # the task's scope (read-only by convention)
    templar: Any  # runner.playbook.templating.Templar (typed loosely to avoid a cycle)
    playbook_dir: Path
    root: Path
    state_dir: Path
    task_name: str
    # Shared for the whole run (HTTP clients, compiled files...): modules key it by their name.
    cache: dict[str, Any] = field(default_factory=dict)
    # include: runs another playbook file within this run -> Result (set by the engine).
    include: Callable[[Path, dict[str, Any]], Result] | None = None

    def resolve(self, path: str, *, base: str = "root") -> Path:
        """A user path: absolute as is, else relative to the repo root or the playbook dir."""
        p = Path(path)
        if p.is_absolute():
            return p
        return (self.playbook_dir if base == "playbook" else self.root) / p


class Module:
    """Base class. ``free_form`` names the argument a bare value maps to (``command: [..]``)."""

    Args: ClassVar[type[BaseModel]]
    free_form: ClassVar[str | None] = None
    # False for modules whose arguments are expressions evaluated by the module itself.
    template_args: ClassVar[bool] = True
    # True for modules that run other tasks (include): those tasks are counted, not this one.
    aggregates: ClassVar[bool] = False

    def run(self, args: Any, ctx: ModuleContext) -> Result:  # pragma: no cover - abstract
        raise NotImplementedError


REGISTRY: dict[str, type[Module] | str] = {
    "set_fact": "runner.playbook.modules.core:SetFact",
    "assert": "runner.playbook.modules.core:Assert",
    "command": "runner.playbook.modules.core:Command",
    "include": "runner.playbook.modules.core:Include",
    "debug": "runner.playbook.modules.core:Debug",
    "http": "runner.playbook.modules.net:Http",
    "wait_for": "runner.playbook.modules.net:WaitFor",
    "template": "runner.playbook.modules.files:Template",
    "copy": "runner.playbook.modules.files:Copy",
    "render": "runner.playbook.modules.files:Render",
    "notify": "runner.playbook.modules.notify:Notify",
    "dvc": "runner.playbook.modules.ml:Dvc",
    "mlflow": "runner.playbook.modules.ml:Mlflow",
}

# Packages that register modules owned by other parts of the runner (see the docstring).
PLUGIN_PACKAGES: list[str] = [
    "runner.reconcile.playbook_modules",
    "runner.runtime.playbook_modules",
    "runner.lifecycle.playbook_modules",
]
_plugins_loaded = False


def register(name: str, target: type[Module] | str) -> None:
    """Make ``name`` usable as a task key: a Module subclass or ``"pkg.module:Class"``."""
    REGISTRY[name] = target


def _load_plugins() -> None:
    global _plugins_loaded
    if _plugins_loaded:
        return
    _plugins_loaded = True
    for dotted in PLUGIN_PACKAGES:
        try:
            found = importlib.util.find_spec(dotted) is not None
        except ModuleNotFoundError:
            found = False
        if found:
            try:
                importlib.import_module(dotted)
            except Exception as exc:  # a broken plugin package: say which, in one line
                raise PlaybookError(f"cannot load playbook modules from {dotted}: "
                                    f"{type(exc).__name__}: {exc}") from None


def known(name: str) -> bool:
    """Is ``name`` a module (loading plugin packages if it is not built in)?"""
    if name not in REGISTRY:
        _load_plugins()
    return name in REGISTRY


def get(name: str) -> type[Module]:
    """The module class for ``name``; lazy entries are imported (and cached) here."""
    if not known(name):
        raise PlaybookError(f"unknown module {name!r}")
    target = REGISTRY[name]
    if isinstance(target, str):
        mod_name, _, cls_name = target.partition(":")
        try:
            target = getattr(importlib.import_module(mod_name), cls_name)
        except (ImportError, AttributeError) as exc:
            raise PlaybookError(f"module {name!r} cannot be loaded from {target}: {exc}") from None
        assert isinstance(target, type)
        REGISTRY[name] = target
    return target


def names() -> list[str]:
    _load_plugins()
    return sorted(REGISTRY)
