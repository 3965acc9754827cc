"""Turning problems into the one-line messages users see, and collecting them.

pydantic's messages are reworded ("Input should be ..." -> "must be ...") and extended
with what was found; an unknown key gets the closest valid name (difflib).
"""

from __future__ import annotations

import difflib
import re
import types
import typing
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from runner.errors import Location, ToolkitError, printable
from runner.spec.models import (
    HOST_PATTERN,
    IMAGE_PATTERN,
    LINE_PATTERN,
    METRIC_PATTERN,
    NAME_PATTERN,
    URL_PATH_PATTERN,
)
from runner.spec.spec_yaml import PathT, Pos, type_name

PATTERN_HINTS = {
    NAME_PATTERN: "must be lowercase letters, digits and '-', starting with a letter",
    IMAGE_PATTERN: "must be a lowercase image reference like 'mlgitops/bankchurn:latest'",
    HOST_PATTERN: "must be a host name or an IP address",
    LINE_PATTERN: "must be one line of printable text",
    METRIC_PATTERN: "must be a metric name (letters, digits, '_', '.', ':', '-')",
    URL_PATH_PATTERN: "must be a URL path starting with '/' (letters, digits, '._~/-')",
}


def field_path(path: PathT) -> str:
    """``("maintenance", "windows", 0, "cron")`` -> ``maintenance.windows[0].cron``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def suggest(word: str, choices: Iterable[str]) -> str:
    """A "; did you mean 'x'?" suffix, or the list of valid names when nothing is close."""
    options = sorted(set(choices))
    close = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    if close:
        return f"; did you mean '{close[0]}'?"
    return f" (valid: {', '.join(options)})" if options else ""


class Problems:
    """Every problem found in one validation run, as ``ToolkitError`` lines."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._items: list[tuple[tuple[str, int, int, str], ToolkitError]] = []
        self._seen: set[tuple[str, int, int, str]] = set()

    def __bool__(self) -> bool:
        return bool(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def add_at(self, pos: Pos, path: PathT, message: str) -> None:
        field = printable(field_path(pos.prefix + tuple(path))) or None
        location = Location(pos.file, pos.line, pos.column)
        err = ToolkitError(printable(message), location=location, field=field)
        key = (pos.file, pos.line or 0, pos.column or 0, err.one_line())
        if key not in self._seen:  # merged documents can surface one problem twice
            self._seen.add(key)
            self._items.append((key, err))

    def sorted(self) -> list[ToolkitError]:
        return [err for _, err in sorted(self._items, key=lambda item: item[0])]


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def pydantic_message(model: type[BaseModel], err: Any, loc: PathT) -> str:
    """Reword one pydantic error dict for a person editing YAML."""
    kind = err["type"]
    value = err.get("input")
    if kind == "extra_forbidden":
        key = str(loc[-1])
        return f"unknown key '{key}'{suggest(key, fields_at(model, loc[:-1]))}"
    if kind == "missing":
        return "required field is missing"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        if (err.get("ctx") or {}).get("class_name") == "SecretRef":
            # Secrets live outside the specs: say so instead of "must be a mapping".
            return "must be a reference {env: VAR} or {file: PATH}, never the secret itself"
        return f"must be a mapping (got {type_name(value)})"
    if kind == "list_type":
        return f"must be a list (got {type_name(value)})"
    if kind == "string_pattern_mismatch":
        pattern = (err.get("ctx") or {}).get("pattern", "")
        hint = PATTERN_HINTS.get(pattern, f"must match {pattern}")
        return f"{hint} (got {_shown(value)})"
    msg = str(err["msg"])
    if msg.startswith("Value error, "):
        return msg.removeprefix("Value error, ")
    msg = re.sub(r"^(Input|String|List|Dictionary|Value) should ", "must ", msg)
    if value is not None and not isinstance(value, dict | list):
        msg += f" (got {_shown(value)})"
    return msg


def _unwrap(tp: Any) -> Any:
    """Strip Optional/Annotated/Union-with-None down to the one real type."""
    while True:
        origin = typing.get_origin(tp)
        if origin is typing.Annotated:
            tp = typing.get_args(tp)[0]
            continue
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if origin in (typing.Union, types.UnionType) and len(args) == 1:
            tp = args[0]
            continue
        return tp


def fields_at(model: type[BaseModel], loc: PathT) -> list[str]:
    """The valid key names of the mapping at ``loc`` inside ``model`` ([] if unknown)."""
    tp: Any = model
    for part in loc:
        tp = _unwrap(tp)
        if isinstance(tp, type) and issubclass(tp, BaseModel) and isinstance(part, str):
            field = tp.model_fields.get(part)
            if field is None:
                return []
            tp = field.annotation
        elif typing.get_origin(tp) in (list, dict):
            tp = typing.get_args(tp)[-1]
        else:
            return []
    tp = _unwrap(tp)
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return list(tp.model_fields)
    return []
