"""YAML with positions: mappings and lists that remember where each value was written.

Loaded with a SafeLoader subclass (the C one when available): only safe YAML tags, exactly
what ``yaml.safe_load`` accepts, but mappings become ``PosDict`` (line and column of the
mapping, each key and each value) and lists ``PosList``. Duplicate keys are an error.
"""

from __future__ import annotations

from typing import Any

import yaml

from runner.errors import Location, PlaybookError

_Base: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class PosDict(dict[Any, Any]):
    """A mapping from YAML that knows where it, its keys and its values were written."""

    pos: tuple[int, int]
    key_pos: dict[Any, tuple[int, int]]
    val_pos: dict[Any, tuple[int, int]]


class PosList(list[Any]):
    pos: tuple[int, int]
    item_pos: list[tuple[int, int]]


def _mark(node: yaml.Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


class _PosLoader(_Base):
    """SafeLoader with position-carrying containers (still only safe YAML tags)."""


def _construct_map(loader: Any, node: yaml.MappingNode) -> Any:
    data = PosDict()
    data.pos, data.key_pos, data.val_pos = _mark(node), {}, {}
    yield data
    loader.flatten_mapping(node)
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in data:
            line, col = _mark(key_node)
            raise PlaybookError(f"duplicate key {key!r}", location=Location("", line, col))
        data[key] = loader.construct_object(value_node, deep=True)
        data.key_pos[key], data.val_pos[key] = _mark(key_node), _mark(value_node)


def _construct_seq(loader: Any, node: yaml.SequenceNode) -> Any:
    data = PosList()
    data.pos, data.item_pos = _mark(node), [_mark(n) for n in node.value]
    yield data
    data.extend(loader.construct_object(n, deep=True) for n in node.value)


_PosLoader.add_constructor("tag:yaml.org,2002:map", _construct_map)
_PosLoader.add_constructor("tag:yaml.org,2002:seq", _construct_seq)


def load_yaml(text: str) -> Any:
    """Parse one YAML document (safe tags only) into position-carrying containers."""
    # bandit B506: _PosLoader subclasses (C)SafeLoader; it adds no tag, only positions.
    return yaml.load(text, Loader=_PosLoader)  # noqa: S506 # nosec B506
