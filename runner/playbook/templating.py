"""Jinja2 expressions over playbook variables: sandboxed, strict, compiled once.

Rules (as in Ansible):
- a string without ``{{``/``{%`` is returned as is (the common case costs one scan);
- a string that is exactly one ``{{ expr }}`` evaluates to the native value
  (a list stays a list, 3 stays an int);
- any other template renders to a string;
- ``when``/``until``/``that`` are bare expressions (no braces).

Templates are compiled once per distinct source and cached; they render against a
variable ``Mapping`` (a ChainMap of scopes) without copying it, which keeps a 200-task
play well under a millisecond per task.
"""

from __future__ import annotations

import json
import os
import re
from collections import ChainMap
from collections.abc import Mapping
from typing import Any

import yaml
from jinja2 import StrictUndefined, TemplateError, Undefined
from jinja2.sandbox import SandboxedEnvironment

from runner.errors import PermanentError
from runner.playbook.codecache import CodeCache

_SINGLE = re.compile(r"^\{\{\s*(.*?)\s*\}\}$", re.DOTALL)


class TemplateFailure(PermanentError):
    """An expression failed to compile or evaluate (undefined variable, sandbox violation)."""


def is_template(value: Any) -> bool:
    return isinstance(value, str) and ("{{" in value or "{%" in value)


def has_template(value: Any) -> bool:
    """Is there a template anywhere inside ``value`` (strings in dicts and lists)?"""
    if isinstance(value, str):
        return is_template(value)
    if isinstance(value, dict):
        return any(has_template(v) for v in value.values())
    if isinstance(value, list):
        return any(has_template(v) for v in value)
    return False


def _to_bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on", "y")
    return bool(value)


def _regex_search(value: str, pattern: str) -> str | None:
    m = re.search(pattern, value)
    return m.group(0) if m else None


def _combine(*dicts: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for d in dicts:
        out.update(d)
    return out


def _result_flag(name: str) -> Any:
    def test(value: Any) -> bool:
        return isinstance(value, Mapping) and bool(value.get(name))

    return test


def _succeeded(value: Any) -> bool:
    return isinstance(value, Mapping) and not value.get("failed")


class Templar:
    """Compiles and evaluates templates; one per run (the caches live as long as it does).

    ``code_cache`` keeps compiled code across runs (see codecache.py)."""

    def __init__(self, code_cache: CodeCache | None = None) -> None:
        self.code_cache = code_cache or CodeCache(None)
        env = SandboxedEnvironment(
            undefined=StrictUndefined, keep_trailing_newline=True, autoescape=False
        )
        env.filters.update(
            to_json=lambda v: json.dumps(v, default=str),
            to_nice_json=lambda v: json.dumps(v, indent=2, sort_keys=True, default=str),
            from_json=json.loads,
            to_yaml=lambda v: yaml.safe_dump(v, default_flow_style=False, sort_keys=False),
            from_yaml=yaml.safe_load,
            bool=_to_bool,
            basename=os.path.basename,
            dirname=os.path.dirname,
            regex_replace=lambda v, p, r="": re.sub(p, r, v),
            regex_search=_regex_search,
            combine=_combine,
        )
        env.tests.update(
            failed=_result_flag("failed"),
            failure=_result_flag("failed"),
            changed=_result_flag("changed"),
            change=_result_flag("changed"),
            skipped=_result_flag("skipped"),
            succeeded=_succeeded,
            success=_succeeded,
        )
        self.env = env
        # Template files render like Ansible's template module: the newline after a block
        # tag is dropped, so "{% for %}" lines do not leave blank lines behind.
        self.file_env = env.overlay(trim_blocks=True)
        self._files: dict[str, Any] = {}
        # Rendering shares the caller's mapping (no copy), so the globals (range, dict...)
        # that Jinja would otherwise merge in sit at the bottom of the chain instead.
        self.globals: dict[str, Any] = dict(env.globals)
        self._templates: dict[str, Any] = {}
        self._expressions: dict[str, Any] = {}

    # -- compilation (cached in memory, and across runs as code objects) ------------------
    def _build(self, env: SandboxedEnvironment, kind: str, source: str) -> Any:
        key = f"{kind}\0{source}"
        code = self.code_cache.get(key)
        if code is None:
            code = env.compile(source)
            self.code_cache.put(key, code)
        return env.template_class.from_code(env, code, env.make_globals(None), None)

    def compile_template(self, source: str) -> Any:
        tmpl = self._templates.get(source)
        if tmpl is None:
            try:
                tmpl = self._build(self.env, "t", source)
            except TemplateError as exc:
                raise TemplateFailure(f"template syntax error in {source!r}: {exc}") from None
            self._templates[source] = tmpl
        return tmpl

    def compile_expression(self, source: str) -> Any:
        """A template whose run leaves the expression's value in ``ctx.vars["result"]``."""
        tmpl = self._expressions.get(source)
        if tmpl is None:
            try:
                if "%}" in source or "{%" in source:
                    # Cannot be wrapped in a tag: Jinja's own expression compiler (uncached).
                    tmpl = self.env.compile_expression(source, undefined_to_none=False)._template
                else:
                    tmpl = self._build(self.env, "e", f"{{% set result = ({source}\n) %}}")
            except TemplateError as exc:
                raise TemplateFailure(f"expression syntax error in {source!r}: {exc}") from None
            self._expressions[source] = tmpl
        return tmpl

    def precompile(self, value: Any) -> None:
        """Compile every template inside ``value`` so syntax errors surface before a run."""
        if isinstance(value, str):
            if is_template(value):
                m = _SINGLE.match(value)
                if m and "{{" not in m.group(1) and "}}" not in m.group(1):
                    self.compile_expression(m.group(1))
                else:
                    self.compile_template(value)
        elif isinstance(value, dict):
            for v in value.values():
                self.precompile(v)
        elif isinstance(value, list):
            for v in value:
                self.precompile(v)

    # -- evaluation ---------------------------------------------------------------------
    def _scope(self, variables: Mapping[str, Any]) -> Mapping[str, Any]:
        if isinstance(variables, ChainMap):
            return ChainMap(*variables.maps, self.globals)
        return ChainMap(variables, self.globals)  # type: ignore[arg-type]

    def evaluate(self, source: str, variables: Mapping[str, Any]) -> Any:
        """A bare expression (``when``, ``until``, ``that``) -> its native value."""
        tmpl = self.compile_expression(source)
        try:
            ctx = tmpl.new_context(self._scope(variables), shared=True)
            for _ in tmpl.root_render_func(ctx):
                pass
            value = ctx.vars["result"]
            if isinstance(value, Undefined):
                # StrictUndefined only raises when used; a bare undefined result is an error too.
                str(value)
            return value
        except TemplateError as exc:
            raise TemplateFailure(f"{source!r}: {exc}") from None
        except (TypeError, ValueError, ArithmeticError, LookupError) as exc:
            raise TemplateFailure(f"{source!r}: {type(exc).__name__}: {exc}") from None

    def render_string(self, source: str, variables: Mapping[str, Any]) -> Any:
        if "{{" not in source and "{%" not in source:
            return source
        m = _SINGLE.match(source)
        if m and "{{" not in m.group(1) and "}}" not in m.group(1):
            return self.evaluate(m.group(1), variables)
        tmpl = self.compile_template(source)
        try:
            ctx = tmpl.new_context(self._scope(variables), shared=True)
            return "".join(tmpl.root_render_func(ctx))
        except TemplateError as exc:
            raise TemplateFailure(f"{source!r}: {exc}") from None
        except (TypeError, ValueError, ArithmeticError, LookupError) as exc:
            raise TemplateFailure(f"{source!r}: {type(exc).__name__}: {exc}") from None

    def render(self, value: Any, variables: Mapping[str, Any]) -> Any:
        """Template every string inside ``value`` (dicts and lists recursively)."""
        if isinstance(value, str):
            return self.render_string(value, variables)
        if isinstance(value, dict):
            return {k: self.render(v, variables) for k, v in value.items()}
        if isinstance(value, list):
            return [self.render(v, variables) for v in value]
        return value

    def truthy(self, condition: Any, variables: Mapping[str, Any]) -> bool:
        """``when``-style test: a bool, an expression, or a list of them (all must hold)."""
        if isinstance(condition, list):
            return all(self.truthy(c, variables) for c in condition)
        if isinstance(condition, bool):
            return condition
        if isinstance(condition, str):
            value = (
                self.render_string(condition, variables)
                if is_template(condition)
                else self.evaluate(condition, variables)
            )
            return _to_bool(value) if isinstance(value, str) else bool(value)
        return bool(condition)

    def render_file(self, source: str, variables: Mapping[str, Any]) -> str:
        """Render a whole template file's text (always a string)."""
        tmpl: Any = self._files.get(source)
        if tmpl is None:
            try:
                tmpl = self._files[source] = self._build(self.file_env, "f", source)
            except TemplateError as exc:
                line = getattr(exc, "lineno", None)
                raise TemplateFailure(f"syntax error (line {line}): {exc}") from None
        try:
            ctx = tmpl.new_context(self._scope(variables), shared=True)
            return "".join(tmpl.root_render_func(ctx))
        except TemplateError as exc:
            line = getattr(exc, "lineno", None)
            where = f" (line {line})" if line else ""
            raise TemplateFailure(f"{type(exc).__name__}{where}: {exc}") from None
        except (TypeError, ValueError, ArithmeticError, LookupError) as exc:
            raise TemplateFailure(f"{type(exc).__name__}: {exc}") from None
