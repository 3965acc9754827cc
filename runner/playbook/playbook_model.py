"""The parsed form of a playbook: plays, tasks and blocks, each knowing where it was written.

The loader builds these once, after validating everything (modules, keywords, module
arguments, expression syntax, handler names); the engine only walks them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runner.errors import Location

# Keywords a task may carry next to its module key.
TASK_KEYWORDS = frozenset(
    {
        "name",
        "when",
        "loop",
        "loop_var",
        "loop_control",
        "register",
        "retries",
        "until",
        "delay",
        "notify",
        "tags",
        "ignore_errors",
        "vars",
        "changed_when",
        "failed_when",
        "check_mode",
        "no_log",
    }
)
# Keywords of a block (a task with ``block:``); loops and modules do not apply to blocks.
BLOCK_KEYWORDS = frozenset(
    {"name", "block", "rescue", "always", "when", "tags", "vars", "ignore_errors", "check_mode"}
)
HANDLER_KEYWORDS = TASK_KEYWORDS | {"listen"}
PLAY_KEYWORDS = frozenset({"name", "hosts", "vars", "tasks", "handlers", "tags", "gather_facts"})


@dataclass
class Task:
    """A task or a block (``block`` is not None). Raw values stay raw: templated at run time."""

    name: str
    where: Location
    keypath: str  # "tasks[3]" / "tasks[1].block[0]": the path the user sees
    module: str | None = None
    module_cls: Any = None  # type[Module]; Any keeps this file free of the modules package
    args: Any = None
    when: Any = None
    loop: Any = None
    loop_var: str = "item"
    loop_label: Any = None
    register: str | None = None
    retries: Any = None
    until: Any = None
    delay: Any = None
    notify: list[str] = field(default_factory=list)
    tags: frozenset[str] = frozenset()  # own and inherited
    ignore_errors: bool = False
    vars: dict[str, Any] = field(default_factory=dict)
    changed_when: Any = None
    failed_when: Any = None
    check_mode: bool | None = None
    no_log: bool = False
    listen: list[str] = field(default_factory=list)
    block: list[Task] | None = None
    rescue: list[Task] = field(default_factory=list)
    always: list[Task] = field(default_factory=list)
    # include with a literal file: the included playbook, loaded (and validated) up front.
    included: Playbook | None = None

    @property
    def is_block(self) -> bool:
        return self.block is not None


@dataclass
class Play:
    name: str
    where: Location
    vars: dict[str, Any]
    tasks: list[Task]
    handlers: list[Task]
    tags: frozenset[str] = frozenset()


@dataclass
class Playbook:
    path: Path
    display: str  # the path as shown to users (relative to the working directory)
    plays: list[Play]
