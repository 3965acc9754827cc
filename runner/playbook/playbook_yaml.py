"""YAML with positions for playbooks: the shared ``runner.yamlpos`` parser, one error rule.

Mappings come back as ``PosDict`` (line and column of the mapping, each key and each value)
and lists as ``PosList``; only plain YAML tags, no anchors or aliases, size and depth capped.
A playbook stops at its first problem, so a duplicate key is raised like any other refusal.
"""

from __future__ import annotations

from typing import Any

from runner.yamlpos import PosDict, PosList, YamlFault, parse

__all__ = ["PosDict", "PosList", "YamlFault", "load_yaml"]


def load_yaml(text: str) -> Any:
    """Parse one playbook document; raises ``YamlFault`` (1-based mark) for anything refused."""
    parsed = parse(text)
    if parsed.duplicates:
        raise parsed.duplicates[0]
    return parsed.data
