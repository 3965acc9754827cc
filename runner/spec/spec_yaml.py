"""Spec files as data plus the position of every value, for ``file:line:col`` errors.

Parsing (libyaml, aliases refused, size and depth capped) is the shared ``runner.yamlpos``;
this module turns its position-carrying containers into what the spec loader works with:
``Positions``, a table from the path of a value (``("alerts", "cpu", "warning")``) to
where its value and its key were written.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runner.yamlpos import Mark, PosDict, PosList, YamlFault, parse

PathT = tuple[str | int, ...]


@dataclass(frozen=True)
class Pos:
    """A place in a spec file. ``prefix`` is where the document sits inside that file
    (``("services", "bankchurn")`` for a service section of an overlay), so messages can
    name the field path as the user sees it in that file."""

    file: str
    line: int | None = None
    column: int | None = None
    prefix: PathT = ()


@dataclass
class Positions:
    """Path -> position of the value, and path -> position of the mapping key."""

    values: dict[PathT, Pos]
    keys: dict[PathT, Pos]

    @classmethod
    def empty(cls) -> Positions:
        return cls(values={}, keys={})

    def rebased(self, drop: PathT, prefix: PathT) -> Positions:
        """The subtree under ``drop``, re-rooted at (), tagged with ``prefix``."""
        n = len(drop)

        def sub(src: dict[PathT, Pos]) -> dict[PathT, Pos]:
            return {
                p[n:]: Pos(v.file, v.line, v.column, prefix)
                for p, v in src.items()
                if p[:n] == drop
            }

        return Positions(values=sub(self.values), keys=sub(self.keys))

    def locate(self, path: PathT, *, key: bool = False) -> Pos | None:
        """The closest known position: the key or value itself, else its nearest ancestor."""
        if key and path in self.keys:
            return self.keys[path]
        probe = path
        while True:
            if probe in self.values:
                return self.values[probe]
            if not probe:
                return None
            probe = probe[:-1]


class YamlProblem(Exception):
    """A problem found while reading YAML, with its position (already 1-based)."""

    def __init__(self, pos: Pos, message: str, path: PathT = ()) -> None:
        super().__init__(message)
        self.pos = pos
        self.message = message
        self.path = path


def load_yaml(path: Path, display: str) -> tuple[Any, Positions, list[YamlProblem]]:
    """Parse one file safely. Returns (data, positions, problems); data is None when the file
    was refused (syntax, tags, aliases, limits). Duplicate keys are reported (PyYAML alone
    would silently keep the last)."""
    read = read_yaml(path, display)
    return read.data, positions_of(read.data, read.mark, display), read.problems


@dataclass
class Read:
    """One file as read: data with positions inside (``PosDict``/``PosList``), the top
    node's mark, problems, and whether the data is plain JSON (safe to cache as JSON)."""

    data: Any
    mark: Mark | None
    problems: list[YamlProblem]
    plain: bool = False


def read_yaml(path: Path, display: str, raw: bytes | None = None) -> Read:
    """Like ``load_yaml`` without building the position table (``positions_of`` does, when an
    error needs it). ``raw``: the file's bytes when the caller has read them already."""
    try:
        text = (path.read_bytes() if raw is None else raw).decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return Read(None, None, [YamlProblem(Pos(display), f"cannot read: {exc}")])
    try:
        parsed = parse(text)
    except YamlFault as fault:
        problem = YamlProblem(_pos(display, fault.mark), fault.message, fault.path)
        return Read(None, None, [problem])
    problems = [YamlProblem(_pos(display, d.mark), d.message, d.path) for d in parsed.duplicates]
    return Read(parsed.data, parsed.mark, problems, parsed.plain)


def _pos(file: str, mark: Mark | None) -> Pos:
    return Pos(file, *mark) if mark is not None else Pos(file)


def positions_of(data: Any, mark: Mark | None, file: str) -> Positions:
    """The position table of data read by ``read_yaml`` (empty for plain containers)."""
    out = Positions.empty()
    if mark is not None:
        out.values[()] = Pos(file, *mark)
    _collect(data, (), file, out)
    return out


def _collect(node: Any, path: PathT, file: str, out: Positions) -> None:
    if isinstance(node, PosDict):
        for key, value in node.items():
            sub = path + (str(key),)
            out.keys[sub] = Pos(file, *node.key_pos[key])
            out.values[sub] = Pos(file, *node.val_pos[key])
            _collect(value, sub, file, out)
    elif isinstance(node, PosList):
        for index, item in enumerate(node):
            out.values[path + (index,)] = Pos(file, *node.item_pos[index])
            _collect(item, path + (index,), file, out)


def type_name(value: Any) -> str:
    """The YAML-level type of a value for messages: ``list``, not ``PosList``."""
    for plain in (bool, dict, list, str, int, float):
        if isinstance(value, plain):
            return plain.__name__
    return type(value).__name__
