"""Variable scopes: lazily templated vars layers and the precedence chain.

Precedence, highest first (as in Ansible): loop item, extra vars (-e), include vars,
facts (set_fact and register), task vars, block vars (innermost first), play vars, magic
vars (playbook_dir, check_mode, ...). A ``ChainMap`` gives that lookup order without
copying anything per task.

Values in ``vars:`` may themselves be templates that refer to other variables; like Ansible
they are rendered when used (every time, so they follow facts that change), in the scope of
the task that uses them.
"""

from __future__ import annotations

from collections import ChainMap
from collections.abc import Iterator, Mapping
from typing import Any

from runner.playbook.templating import Templar, TemplateFailure, has_template


class ScopeRef:
    """The scope of the task running now; lazy vars render against it."""

    def __init__(self) -> None:
        self.current: Mapping[str, Any] = {}


class LazyVars(Mapping[str, Any]):
    """A ``vars:`` layer whose templated values render on access."""

    def __init__(self, raw: Mapping[str, Any], templar: Templar, ref: ScopeRef) -> None:
        self._raw = raw
        self._templar = templar
        self._ref = ref
        self._resolving: set[str] = set()
        # Layers without templates are the common case: answer those without any work.
        self._plain = not any(has_template(v) for v in raw.values())

    def __getitem__(self, key: str) -> Any:
        value = self._raw[key]
        if self._plain or not has_template(value):
            return value
        if key in self._resolving:
            raise TemplateFailure(f"recursive loop detected in variable {key!r}")
        self._resolving.add(key)
        try:
            return self._templar.render(value, self._ref.current)
        finally:
            self._resolving.discard(key)

    def __contains__(self, key: object) -> bool:
        return key in self._raw

    def __iter__(self) -> Iterator[str]:
        return iter(self._raw)

    def __len__(self) -> int:
        return len(self._raw)


def chain(
    *,
    item: Mapping[str, Any] | None,
    extra: Mapping[str, Any],
    includes: list[Mapping[str, Any]],
    facts: Mapping[str, Any],
    layers: list[Mapping[str, Any]],
    magic: Mapping[str, Any],
) -> ChainMap[str, Any]:
    """Build the lookup chain for one task execution (see the module docstring)."""
    maps: list[Mapping[str, Any]] = []
    if item:
        maps.append(item)
    maps.append(extra)
    maps.extend(includes)
    maps.append(facts)
    maps.extend(layers)
    maps.append(magic)
    return ChainMap(*maps)  # type: ignore[arg-type]
