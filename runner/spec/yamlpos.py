"""YAML loading that remembers where every value came from.

PyYAML's composer gives nodes with start marks; we construct the plain data with the
safe constructor and walk the same nodes to record, for every path in the document,
the position of its key and of its value. Error messages then point at the user's
file, line and column instead of at our code.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

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


def _mark_pos(file: str, mark: Any) -> Pos:
    return Pos(file, mark.line + 1, mark.column + 1)


# libyaml (C) parses about ten times faster than the pure-Python parser; its error
# wording differs, so a file that fails is parsed again in pure Python and users see
# one consistent set of messages whichever parser is installed.
_FAST_LOADER: Any = getattr(yaml, "CSafeLoader", None)


def load_yaml(path: Path, display: str) -> tuple[Any, Positions, list[YamlProblem]]:
    """Parse one file safely. Returns (data, positions, problems); data is None on a
    syntax error. Duplicate keys are reported (PyYAML would silently keep the last)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        return None, Positions.empty(), [YamlProblem(Pos(display), f"cannot read: {exc}")]
    if _FAST_LOADER is not None:
        try:
            return _parse(_FAST_LOADER, text, display)
        except yaml.YAMLError:
            pass
    try:
        return _parse(yaml.SafeLoader, text, display)
    except yaml.MarkedYAMLError as exc:
        return None, Positions.empty(), [_syntax_problem(exc, display)]
    except yaml.YAMLError as exc:  # pragma: no cover - unmarked errors are rare
        return None, Positions.empty(), [YamlProblem(Pos(display), f"YAML error: {exc}")]


def _parse(loader_cls: Any, text: str, display: str) -> tuple[Any, Positions, list[YamlProblem]]:
    loader = loader_cls(text)
    positions = Positions.empty()
    problems: list[YamlProblem] = []
    try:
        node = loader.get_single_node()
        if node is None:
            return None, positions, []
        # Walk before constructing: construction flattens merge keys (<<) in place.
        _walk(node, (), display, positions, problems)
        return loader.construct_document(node), positions, problems
    finally:
        loader.dispose()


def _syntax_problem(exc: yaml.MarkedYAMLError, display: str) -> YamlProblem:
    mark = exc.problem_mark or exc.context_mark
    pos = _mark_pos(display, mark) if mark is not None else Pos(display)
    problem = exc.problem or exc.context or "invalid YAML"
    if isinstance(exc, yaml.constructor.ConstructorError):
        # Only plain data is allowed: the safe loader refuses language-specific tags.
        return YamlProblem(pos, f"YAML tag not allowed: {problem}")
    context = ""
    if exc.context and exc.problem:
        context = f" ({exc.context}"
        if exc.context_mark is not None and exc.context_mark.line != getattr(mark, "line", -1):
            context += f" started at line {exc.context_mark.line + 1}"
        context += ")"
    return YamlProblem(pos, f"YAML syntax error: {problem}{context}")


def _walk(
    node: yaml.Node, path: PathT, file: str, out: Positions, problems: list[YamlProblem]
) -> None:
    out.values[path] = _mark_pos(file, node.start_mark)
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, Pos] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue  # merged keys are located at the mapping that merges them
            key = str(key_node.value) if isinstance(key_node, yaml.ScalarNode) else "?"
            key_pos = _mark_pos(file, key_node.start_mark)
            if key in seen:
                first = seen[key]
                problems.append(
                    YamlProblem(
                        key_pos,
                        f"duplicate key '{key}' (first at line {first.line})",
                        path + (key,),
                    )
                )
            seen[key] = key_pos
            out.keys[path + (key,)] = key_pos
            _walk(value_node, path + (key,), file, out, problems)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _walk(item, path + (index,), file, out, problems)
