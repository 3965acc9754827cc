"""Playbook modules: the base class, the context a module runs with, and ``ModuleSet``.

Writing a module
----------------
A module is a small class with a pydantic ``Args`` model and ``run(args, ctx) -> Result``::

    from pydantic import BaseModel, ConfigDict
    from runner.playbook.modules import Module, ModuleContext
    from runner.playbook.result import Result

    class EchoArgs(BaseModel):
        model_config = ConfigDict(extra="forbid")   # unknown arguments fail at load time
        value: str

    class Echo(Module):
        Args = EchoArgs
        def run(self, args: EchoArgs, ctx: ModuleContext) -> Result:
            plan = ...                                  # compute the plan/diff in both modes
            if plan and not ctx.check_mode:             # guard only the side effect
                ...
            return Result(changed=bool(plan), diff={"before": ..., "after": ...}, msg="why")

Rules: compute the diff in check mode too and guard only the side effect; explain a no-op
in ``msg``; never put secrets in ``msg``/``data``; import heavy libraries inside ``run``.
Raise ``runner.errors`` exceptions or return ``Result(failed=True, msg=...)`` to fail.

Giving modules to a run
-----------------------
The engine knows its built-ins (``builtin_modules()``). Every other module is handed to
the run by its caller, as a mapping of task key to class::

    run_playbook("playbooks/x.yaml", modules={"echo": Echo})

The toolkit's own (``service``, ``rollback``, ``watch``, ``retrain_*``, ``promote``) are
listed by ``runner.playbook_catalog.toolkit_modules()``, which the commands pass. Objects a
module should share with its caller (an opened environment, the plan being applied) go in
``run_playbook(..., resources={...})`` and reach the module as ``ctx.resources``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
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
    # What the caller of run_playbook lent this run (read-only): see the package docstring.
    resources: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    def resolve(self, path: str, *, base: str = "root") -> Path:
        """A user path: absolute as is, else relative to the repo root or the playbook dir."""
        p = Path(path)
        if p.is_absolute():
            return p
        return (self.playbook_dir if base == "playbook" else self.root) / p

    def on_close(self, closer: Callable[[], None]) -> None:
        """Call ``closer`` when the run ends (a resource a module opened for itself)."""
        self.cache.setdefault("closers", []).append(closer)


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


def builtin_modules() -> dict[str, type[Module]]:
    """The engine's own modules by task key (a fresh dict: callers may extend their copy)."""
    # Imported here: these files import Module from this package.
    from runner.playbook.modules import core, file_modules, ml, net, notify

    return {
        "set_fact": core.SetFact,
        "assert": core.Assert,
        "command": core.Command,
        "include": core.Include,
        "debug": core.Debug,
        "http": net.Http,
        "wait_for": net.WaitFor,
        "template": file_modules.Template,
        "copy": file_modules.Copy,
        "render": file_modules.Render,
        "notify": notify.Notify,
        "dvc": ml.Dvc,
        "mlflow": ml.Mlflow,
    }


class ModuleSet:
    """The modules one run may use, by task key: the built-ins plus the caller's (immutable)."""

    def __init__(self, extra: Mapping[str, type[Module]] | None = None) -> None:
        table = builtin_modules()
        for name, cls in (extra or {}).items():
            if not (isinstance(cls, type) and issubclass(cls, Module)):
                raise PlaybookError(f"module {name!r}: {cls!r} is not a Module subclass")
            if name in table and table[name] is not cls:
                raise PlaybookError(f"module {name!r} is built in; pick another task key")
            table[name] = cls
        self._table: Mapping[str, type[Module]] = MappingProxyType(table)

    def known(self, name: str) -> bool:
        return name in self._table

    def get(self, name: str) -> type[Module]:
        """The module class for ``name``."""
        try:
            return self._table[name]
        except KeyError:
            raise PlaybookError(f"unknown module {name!r}") from None

    def names(self) -> list[str]:
        return sorted(self._table)

    def fingerprint(self) -> str:
        """Identity of the set (task keys and classes): part of the parse cache's key."""
        text = "\n".join(f"{n}={c.__module__}:{c.__qualname__}" for n, c in sorted(
            self._table.items()))
        return hashlib.sha256(text.encode()).hexdigest()[:16]
