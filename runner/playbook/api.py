"""The public entry points: ``run_playbook`` (Python API) and ``playbook_command`` (CLI).

``run_playbook`` validates the whole playbook first (a PlaybookError names file and line,
and nothing has run), then runs it, printing a line per task and a recap and writing the
JSON-lines event log under ``<state_dir>/runs/``. Task failures do not raise: they are in
the returned ``RunResult`` (``exit_code`` 1 when one went unrescued).
"""

from __future__ import annotations

import json
import re
import sys
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Literal, TextIO

from runner.errors import PlaybookError
from runner.locations import repo_root
from runner.playbook.codecache import CodeCache
from runner.playbook.modules import Module, ModuleSet
from runner.playbook.output import Reporter, default_state_dir
from runner.playbook.parsecache import ParseCache
from runner.playbook.play_runner import Engine
from runner.playbook.playbook_loader import load_playbook
from runner.playbook.result import RunResult
from runner.playbook.templating import Templar

_INT = re.compile(r"^-?(0|[1-9][0-9]*)$")
_FLOAT = re.compile(r"^-?[0-9]+\.[0-9]+$")


def run_playbook(
    path: str | Path,
    extra_vars: Mapping[str, Any] | None = None,
    *,
    check: bool = False,
    diff: bool = False,
    tags: Iterable[str] | None = None,
    output: TextIO | None | Literal["stdout"] = "stdout",
    state_dir: Path | None = None,
    root: Path | None = None,
    event_log: bool = True,
    cache: bool = True,
    modules: Mapping[str, type[Module]] | None = None,
    resources: Mapping[str, Any] | None = None,
) -> RunResult:
    """Validate then run a playbook. ``output=None`` runs quietly; records are returned.

    ``modules``: task key -> Module class, besides the built-ins (the toolkit's are in
    ``runner.playbook_catalog``). ``resources``: objects lent to the modules for this run
    (``ctx.resources``), e.g. an opened environment; the caller keeps ownership.

    ``output`` defaults to the ``sys.stdout`` of the moment of the call (not of the import),
    so redirected or captured output works. ``cache=False`` parses the playbook afresh
    (parsecache.py) instead of reusing the validated form of an unchanged file."""
    stream = sys.stdout if output == "stdout" else output
    start = time.perf_counter()
    root = root or repo_root()
    state = state_dir or default_state_dir(root)
    templar = Templar(CodeCache.for_state_dir(state))
    module_set = ModuleSet(modules)
    parsed = ParseCache(state if cache else None, module_set.fingerprint())
    resolved = Path(path).resolve()
    playbook = parsed.get(resolved)
    if playbook is None:
        try:
            # PlaybookError before any task runs
            playbook = load_playbook(resolved, templar, module_set)
        finally:
            templar.code_cache.save()
        parsed.put(playbook)
    name = playbook.path.stem
    log_path = Reporter.log_path_for(state, name) if event_log else None
    reporter = Reporter(stream, log_path, diff)
    selected = {t.strip() for t in tags if t.strip()} if tags is not None else None
    extra = dict(extra_vars or {})
    reporter.run_start(name, playbook.display, check, diff, sorted(selected or []) or None,
                       sorted(extra))
    engine = Engine(playbook, templar, reporter, extra_vars=extra, check=check, diff=diff,
                    tags=selected or None, root=root, state_dir=state, modules=module_set,
                    resources=resources)
    try:
        engine.run()
    finally:
        for closer in engine.cache.get("closers", []):
            closer()
        templar.code_cache.save()
    result = RunResult(
        playbook=name,
        stats=engine.stats,
        records=engine.records,
        facts=engine.facts,
        log_path=log_path,
        duration_s=time.perf_counter() - start,
        check=check,
        failures=engine.failures,
    )
    reporter.finish(result)
    return result


def parse_extra_vars(pairs: Iterable[str]) -> dict[str, Any]:
    """``-e`` values: ``k=v`` (ints, floats, true/false become typed), or a JSON object.

    Only unambiguous scalars are typed ("0123" stays a string, unlike YAML's octal).
    """
    out: dict[str, Any] = {}
    for pair in pairs:
        text = pair.strip()
        if text.startswith("{"):
            try:
                data = json.loads(text)
            except json.JSONDecodeError as exc:
                raise PlaybookError(f"-e {text[:40]!r}: invalid JSON: {exc.msg}") from None
            if not isinstance(data, dict):
                raise PlaybookError("-e JSON must be an object")
            out.update(data)
            continue
        key, sep, value = text.partition("=")
        if not sep or not key.strip().isidentifier():
            raise PlaybookError(f"-e {text!r}: expected key=value")
        out[key.strip()] = _typed(value)
    return out


def _typed(value: str) -> Any:
    if _INT.match(value):
        return int(value)
    if _FLOAT.match(value):
        return float(value)
    if value.lower() in ("true", "false"):
        return value.lower() == "true"
    return value


def resolve_playbook(name: str, root: Path | None = None) -> Path:
    """``deploy`` -> ``<root>/playbooks/deploy.yaml``; a path to a file is taken as is."""
    root = root or repo_root()
    given = Path(name)
    if given.suffix in (".yaml", ".yml") and given.is_file():
        return given
    for candidate in (root / "playbooks" / f"{name}.yaml", root / "playbooks" / f"{name}.yml"):
        if candidate.is_file():
            return candidate
    available = sorted(p.stem for p in (root / "playbooks").glob("*.y*ml"))
    raise PlaybookError(
        f"no playbook {name!r} (playbooks/{name}.yaml); available: {', '.join(available) or '-'}"
    )


def playbook_command(
    name: str,
    extra_vars: Iterable[str] = (),
    check: bool = False,
    diff: bool = False,
    tags: str | None = None,
    modules: Mapping[str, type[Module]] | None = None,
) -> int:
    """``inv playbook NAME [-e k=v] [--check] [--diff] [--tags a,b]`` -> exit code.

    ``modules`` besides the built-ins: the command layer passes the toolkit's catalog."""
    path = resolve_playbook(name)
    result = run_playbook(
        path,
        parse_extra_vars(extra_vars),
        check=check,
        diff=diff,
        tags=tags.split(",") if tags else None,
        modules=modules,
    )
    return result.exit_code
