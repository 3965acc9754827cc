"""YAML with positions, for every file users write (specs, playbooks): one parser, one walker.

libyaml (``yaml.CSafeLoader``) composes the node tree, which keeps the line and column of
every node, about ten times faster than the pure-Python parser. We then walk that tree
ourselves instead of running PyYAML's constructor, building the data and its positions in
one pass: mappings become ``PosDict`` (the line and column of the mapping, of each key and
of each value), lists ``PosList``.

The walk is also where hostile input stops. Anchors and aliases are refused: a 350-byte
"billion laughs" file expands to gigabytes when constructed, and ``&a [*a]`` is a cycle.
Size, depth and node count are capped. Only the plain YAML tags ``yaml.safe_load`` knows
are accepted. Every refusal is a ``YamlFault`` with a 1-based line and column, which the
callers turn into their one-line ``file:line:col`` errors.

This module is a leaf (PyYAML only), so the spec and playbook packages can both import it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

Mark = tuple[int, int]  # 1-based line and column

MAX_BYTES = 1 << 20  # a spec or playbook is a few KiB; refuse to parse a megabyte
MAX_DEPTH = 50
MAX_NODES = 100_000

_STR = "tag:yaml.org,2002:str"
_MAP = "tag:yaml.org,2002:map"
_SEQ = "tag:yaml.org,2002:seq"
_MERGE = "tag:yaml.org,2002:merge"
_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"
# Scalars whose Python value is JSON too (see Parsed.plain); timestamps and binary are not.
_JSON_SCALARS = frozenset({_STR, "tag:yaml.org,2002:int", "tag:yaml.org,2002:float",
                           "tag:yaml.org,2002:bool", "tag:yaml.org,2002:null"})

# libyaml when PyYAML was built with it; otherwise the pure-Python loader does everything.
_FAST: Any = getattr(yaml, "CSafeLoader", None)


class PosDict(dict[Any, Any]):
    """A mapping from YAML that knows where it, its keys and its values were written."""

    pos: Mark
    key_pos: dict[Any, Mark]
    val_pos: dict[Any, Mark]


class PosList(list[Any]):
    """A list from YAML that knows where it and each item were written."""

    pos: Mark
    item_pos: list[Mark]


class YamlFault(Exception):
    """Why a YAML text was refused, where (1-based), and at which data path."""

    def __init__(self, message: str, mark: Mark | None = None,
                 path: tuple[str | int, ...] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.mark = mark
        self.path = path


@dataclass
class Parsed:
    """One document: its data (None for an empty one), where the top node starts,
    problems that did not stop the walk (duplicate keys; the last value wins), and whether
    the data is plain JSON (str keys; str, int, float, bool and null scalars)."""

    data: Any
    mark: Mark | None
    duplicates: list[YamlFault] = field(default_factory=list)
    plain: bool = True


def parse(text: str, *, max_bytes: int = MAX_BYTES, max_depth: int = MAX_DEPTH,
          max_nodes: int = MAX_NODES) -> Parsed:
    """Parse one YAML document safely. Raises ``YamlFault`` for anything refused."""
    if len(text) > max_bytes:
        raise YamlFault(f"file is larger than {max_bytes:,} bytes; refusing to parse it")
    try:
        text.encode("utf-8")  # libyaml would raise UnicodeEncodeError on a lone surrogate
    except UnicodeEncodeError as exc:
        raise YamlFault(f"not valid UTF-8 text: {exc.reason} at character {exc.start}") from None
    node = compose(text)
    if node is None:
        return Parsed(None, None)
    walker = _Walker(text, max_depth, max_nodes)
    data = walker.build(node, (), 1)
    return Parsed(data, _mark(node), walker.duplicates, walker.plain)


def compose(text: str) -> yaml.Node | None:
    """The node tree of one document (libyaml when available). Syntax errors are reported
    in the pure-Python parser's words, so messages do not depend on how PyYAML was built."""
    if _FAST is not None:
        try:
            return yaml.compose(text, Loader=_FAST)
        except yaml.YAMLError as fast_error:
            try:
                yaml.compose(text, Loader=yaml.SafeLoader)
            except yaml.YAMLError as exc:
                raise _syntax_fault(exc, text) from None
            except RecursionError:  # deeper than Python's stack: libyaml's words will do
                pass
            raise _syntax_fault(fast_error, text) from None
    try:
        return yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        raise _syntax_fault(exc, text) from None
    except RecursionError:
        raise YamlFault(f"nested deeper than {MAX_DEPTH} levels") from None


def _mark(node: yaml.Node) -> Mark:
    return node.start_mark.line + 1, node.start_mark.column + 1


def _syntax_fault(exc: yaml.YAMLError, text: str = "") -> YamlFault:
    if isinstance(exc, yaml.reader.ReaderError):  # a control character: point at it
        before = text[: exc.position]
        at = (before.count("\n") + 1, exc.position - (before.rfind("\n") + 1) + 1)
        char = exc.character if isinstance(exc.character, int) else ord(exc.character)
        return YamlFault(f"YAML syntax error: character #x{char:04x} is not allowed", at)
    if not isinstance(exc, yaml.MarkedYAMLError):  # pragma: no cover - unmarked errors are rare
        return YamlFault(f"YAML error: {str(exc).splitlines()[0]}")
    mark = exc.problem_mark or exc.context_mark
    where = (mark.line + 1, mark.column + 1) if mark is not None else None
    problem = exc.problem or exc.context or "invalid YAML"
    context = ""
    if exc.context and exc.problem:
        context = f" ({exc.context}"
        if exc.context_mark is not None and exc.context_mark.line != getattr(mark, "line", -1):
            context += f" started at line {exc.context_mark.line + 1}"
        context += ")"
    return YamlFault(f"YAML syntax error: {problem}{context}", where)


def _alias_fault(text: str, node: yaml.Node) -> YamlFault:
    """Point at the first alias in the text (the composer keeps only the anchored node)."""
    try:
        for event in yaml.parse(text, Loader=_FAST or yaml.SafeLoader):
            if isinstance(event, yaml.AliasEvent) and event.start_mark is not None:
                mark = (event.start_mark.line + 1, event.start_mark.column + 1)
                return YamlFault(f"YAML aliases are not allowed (*{event.anchor}): "
                                 "write the value out", mark)
    except yaml.YAMLError:  # pragma: no cover - the text composed, so it parses
        pass
    return YamlFault("YAML aliases are not allowed: write the value out", _mark(node))


class _Walker:
    """Builds PosDict/PosList/scalars from a node tree; one instance per document."""

    def __init__(self, text: str, max_depth: int, max_nodes: int) -> None:
        self.text = text
        self.max_depth = max_depth
        self.budget = max_nodes
        self.max_nodes = max_nodes
        self.seen: set[int] = set()  # ids of collection nodes built: a repeat is an alias
        self.duplicates: list[YamlFault] = []
        self.plain = True
        self.constructor: yaml.constructor.SafeConstructor | None = None

    def build(self, node: yaml.Node, path: tuple[str | int, ...], depth: int) -> Any:
        self.budget -= 1
        if self.budget < 0:
            raise YamlFault(f"more than {self.max_nodes} values; refusing to read further",
                            _mark(node))
        if isinstance(node, yaml.ScalarNode):
            tag = node.tag
            if tag == _STR:
                return node.value
            value = node.value
            # Plain decimal numbers without PyYAML's constructor (most of a spec's numbers);
            # "012" is octal in YAML 1.1 and "1:30" sexagesimal: those take the slow path.
            if tag == _INT and value.isdigit() and (value[0] != "0" or value == "0"):
                return int(value)
            if tag == _FLOAT and ":" not in value and "_" not in value:
                try:
                    return float(value)
                except ValueError:
                    pass  # .inf, .nan
            return self.scalar(node)
        if id(node) in self.seen:
            raise _alias_fault(self.text, node)
        self.seen.add(id(node))
        if depth > self.max_depth:
            raise YamlFault(f"nested deeper than {self.max_depth} levels", _mark(node), path)
        if isinstance(node, yaml.MappingNode):
            if node.tag != _MAP:
                raise _tag_fault(node)
            return self.mapping(node, path, depth)
        if node.tag != _SEQ:
            raise _tag_fault(node)
        out = PosList()
        out.pos = _mark(node)
        out.item_pos = [_mark(item) for item in node.value]
        out.extend(self.build(item, path + (i,), depth + 1) for i, item in enumerate(node.value))
        return out

    def mapping(self, node: yaml.MappingNode, path: tuple[str | int, ...], depth: int) -> PosDict:
        out = PosDict()
        out.pos = _mark(node)
        out.key_pos, out.val_pos = {}, {}
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE:
                if id(value_node) in self.seen:  # `<<: *base`: the alias is the problem
                    raise _alias_fault(self.text, value_node)
                raise YamlFault("YAML merge keys (<<) are not allowed: write the keys out",
                                _mark(key_node), path)
            if isinstance(key_node, yaml.ScalarNode):
                key = key_node.value if key_node.tag == _STR else self.scalar(key_node)
            else:
                raise YamlFault("a mapping key must be a plain value", _mark(key_node), path)
            if not isinstance(key, str):
                self.plain = False
            where = _mark(key_node)
            if key in out:
                first = out.key_pos[key][0]
                self.duplicates.append(YamlFault(
                    f"duplicate key '{key}' (first at line {first})", where, path + (str(key),)))
            out[key] = self.build(value_node, path + (str(key),), depth + 1)
            out.key_pos[key], out.val_pos[key] = where, _mark(value_node)
        return out

    def scalar(self, node: yaml.ScalarNode) -> Any:
        if self.constructor is None:
            self.constructor = yaml.constructor.SafeConstructor()
        make = self.constructor.yaml_constructors.get(node.tag)
        if make is None or node.tag in (_MAP, _SEQ) or node.tag.endswith(("set", "omap",
                                                                          "pairs")):
            raise _tag_fault(node)
        if node.tag not in _JSON_SCALARS:
            self.plain = False
        try:
            return make(self.constructor, node)
        except yaml.constructor.ConstructorError as exc:
            raise YamlFault(f"YAML tag not allowed: {exc.problem}", _mark(node)) from None
        except (ValueError, TypeError, OverflowError, AttributeError, LookupError):  # `!!int x`
            tag = node.tag.rsplit(":", 1)[-1]
            raise YamlFault(f"not a valid !!{tag}: {node.value!r}", _mark(node)) from None


def _tag_fault(node: yaml.Node) -> YamlFault:
    # The same words PyYAML's safe constructor uses, so users see one message for one cause.
    return YamlFault("YAML tag not allowed: could not determine a constructor for the tag "
                     f"{node.tag!r}", _mark(node))


__all__ = ["MAX_BYTES", "MAX_DEPTH", "MAX_NODES", "Mark", "Parsed", "PosDict", "PosList",
           "YamlFault", "compose", "parse"]
