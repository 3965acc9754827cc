"""Environment overlays: deep merge that also merges the positions of every value.

Dicts merge key by key, recursively; lists and scalars in the overlay replace the base
value whole (a list merge by index would be surprising). The positions of a replaced
subtree come from the overlay file, so an error in an overlay value points at the
overlay's line, not at the base file.
"""

from __future__ import annotations

import copy
from typing import Any

from runner.spec.spec_yaml import PathT, Positions


def deep_merge(
    base: Any, base_pos: Positions, over: Any, over_pos: Positions
) -> tuple[Any, Positions]:
    """Return (merged data, merged positions); the inputs are not modified."""
    pos = Positions(values=dict(base_pos.values), keys=dict(base_pos.keys))
    merged = _merge(base, over, (), pos, over_pos)
    return merged, pos


def merge_values(base: Any, over: Any) -> Any:
    """Plain deep merge without positions (for callers that only need the data)."""
    return _merge(base, over, (), Positions.empty(), Positions.empty())


def _merge(base: Any, over: Any, path: PathT, pos: Positions, over_pos: Positions) -> Any:
    if isinstance(base, dict) and isinstance(over, dict):
        out = dict(base)
        for key, value in over.items():
            sub = path + (str(key),)
            if key in base:
                out[key] = _merge(base[key], value, sub, pos, over_pos)
            else:
                _take(sub, pos, over_pos)
                out[key] = copy.deepcopy(value)
        return out
    _take(path, pos, over_pos)
    return copy.deepcopy(over)


def _take(path: PathT, pos: Positions, over_pos: Positions) -> None:
    """The subtree at ``path`` now comes from the overlay: swap its positions."""
    n = len(path)
    for table, source in ((pos.values, over_pos.values), (pos.keys, over_pos.keys)):
        for p in [p for p in table if p[:n] == path]:
            del table[p]
        table.update({p: v for p, v in source.items() if p[:n] == path})
