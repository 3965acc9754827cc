"""Runs a loaded playbook: task keywords, blocks, handlers, tags, check and diff mode.

Semantics follow Ansible where it has an answer (one local host):
- ``when`` is evaluated per loop item; ``loop`` takes a list (or a template giving one);
- ``retries``/``until``/``delay``: attempts = retries + 1; ``retries`` without ``until``
  retries until the task does not fail; the registered variable is visible to ``until``;
- a failure not ignored and not rescued stops the play and the run (exit code 1);
- ``block``/``rescue``/``always``: rescue sees ``failed_task`` ({name, msg, where, result});
  a successful rescue turns the block's failures into one ``rescued``; a block's ``when``
  is decided once, when the block starts (Ansible re-checks it on every inner task);
- handlers run once each at the end of a play, in definition order, when notified by a
  changed task (by name or ``listen``), and not after an unrescued failure;
- ``--tags``: a task runs when it shares a tag with the selection or is tagged ``always``;
  tags are inherited from plays and blocks; ``never`` tasks run only when selected.
"""

from __future__ import annotations

import os
import time
import traceback
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

from pydantic import ValidationError

from runner.errors import ToolkitError
from runner.playbook.modules import Module, ModuleContext, ModuleSet
from runner.playbook.output import Reporter
from runner.playbook.playbook_loader import load_playbook
from runner.playbook.playbook_model import Play, Playbook, Task
from runner.playbook.result import Result, Stats, TaskRecord
from runner.playbook.scope import LazyVars, ScopeRef, chain
from runner.playbook.templating import Templar, TemplateFailure

DEFAULT_RETRIES = 3  # with ``until`` and no ``retries`` (Ansible's default)
DEFAULT_DELAY = 1.0  # seconds between attempts (Ansible waits 5; deploy loops want faster)


def _bad_args(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "arguments"
        parts.append(f"{loc}: {str(err['msg']).removeprefix('Value error, ')}")
    return "bad argument " + "; ".join(parts)


class Engine:
    def __init__(
        self,
        playbook: Playbook,
        templar: Templar,
        reporter: Reporter,
        *,
        extra_vars: Mapping[str, Any],
        check: bool,
        diff: bool,
        tags: set[str] | None,
        root: Path,
        state_dir: Path,
        modules: ModuleSet | None = None,
        resources: Mapping[str, Any] | None = None,
    ) -> None:
        self.playbook = playbook
        self.modules = modules or ModuleSet()
        # Lent by the caller for this run only; modules see it read-only (ctx.resources).
        self.resources: Mapping[str, Any] = MappingProxyType(dict(resources or {}))
        self.templar = templar
        self.reporter = reporter
        self.extra = dict(extra_vars)
        self.check = check
        self.diff = diff
        self.tags = tags
        self.root = root
        self.state_dir = state_dir
        self.facts: dict[str, Any] = {}
        self.includes: list[Mapping[str, Any]] = []
        self.stats = Stats()
        self.records: list[TaskRecord] = []
        self.failures: list[TaskRecord] = []
        self.cache: dict[str, Any] = {}
        self.instances: dict[type, Module] = {}
        self.ref = ScopeRef()
        self.play_name = ""
        self.notified: set[str] = set()
        self.last_failure: dict[str, Any] = {}
        self.forced_tags: frozenset[str] = frozenset()
        self.magic: dict[str, Any] = {
            "playbook_dir": str(playbook.path.parent),
            "root": str(root),
            "state_dir": str(state_dir),
            "check_mode": check,
            "diff_mode": diff,
        }

    # -- plays -----------------------------------------------------------------------
    def run(self) -> bool:
        return self.run_plays(self.playbook)

    def run_plays(self, playbook: Playbook) -> bool:
        for play in playbook.plays:
            if not self.run_play(play, playbook):
                return False
        return True

    def run_play(self, play: Play, playbook: Playbook) -> bool:
        outer_name, outer_notified = self.play_name, self.notified
        magic = dict(self.magic, playbook_dir=str(playbook.path.parent), play_name=play.name)
        layers: list[Mapping[str, Any]] = [LazyVars(play.vars, self.templar, self.ref), magic]
        self.scope(layers)
        self.play_name, self.notified = self.display_name(play.name), set()
        self.reporter.play_start(self.play_name, str(play.where), self.check)
        ok = self.run_tasks(play.tasks, layers, playbook.path.parent)
        if ok and self.notified:
            pending = [h for h in play.handlers
                       if h.name in self.notified or self.notified & set(h.listen)]
            if pending:
                self.reporter.handlers_start()
            for handler in play.handlers:
                if handler.name in self.notified or self.notified & set(handler.listen):
                    ok = self.run_task(handler, layers, playbook.path.parent, handler=True)
                    if not ok:
                        break
        self.play_name, self.notified = outer_name, outer_notified
        return ok

    def run_tasks(self, tasks: list[Task], layers: list[Mapping[str, Any]], pdir: Path) -> bool:
        for task in tasks:
            ok = self.run_block(task, layers, pdir) if task.is_block else \
                self.run_task(task, layers, pdir)
            if not ok:
                return False
        return True

    # -- scopes and tags -------------------------------------------------------------
    def scope(self, layers: list[Mapping[str, Any]], item: Mapping[str, Any] | None = None
              ) -> Mapping[str, Any]:
        # layers[-1] is the magic layer; facts sit above play/block/task vars.
        scope = chain(item=item, extra=self.extra, includes=self.includes, facts=self.facts,
                      layers=layers[:-1], magic=layers[-1])
        self.ref.current = scope
        return scope

    def display_name(self, name: str) -> str:
        """Names may be templates ("Deploy {{ service }}"); shown raw if they cannot render."""
        if "{" not in name:
            return name
        try:
            return str(self.templar.render_string(name, self.ref.current))
        except ToolkitError:
            return name

    def selected(self, task: Task) -> bool:
        tags = task.tags | self.forced_tags
        if self.tags is None or "all" in self.tags:
            return "never" not in tags or bool(self.tags and tags & self.tags)
        return "always" in tags or bool(tags & self.tags)

    # -- blocks ----------------------------------------------------------------------
    def run_block(self, task: Task, layers: list[Mapping[str, Any]], pdir: Path) -> bool:
        inner = [LazyVars(task.vars, self.templar, self.ref), *layers] if task.vars else layers
        if task.when is not None:
            try:
                run = self.templar.truthy(task.when, self.scope(inner))
            except ToolkitError as exc:
                return self.report(task, Result(failed=True, msg=exc.one_line()), None, 0.0)
            if not run:
                return True  # the tasks inside are not evaluated, so none is counted
        failed_before, failures_before = self.stats.failed, len(self.failures)
        ok = self.run_tasks(task.block or [], inner, pdir)
        if not ok and task.rescue:
            failed_in_block = self.stats.failed - failed_before
            rescue_layers = [{"failed_task": self.last_failure,
                              "failed_result": self.last_failure.get("result", {})}, *inner]
            ok = self.run_tasks(task.rescue, rescue_layers, pdir)
            if ok:
                self.stats.failed -= failed_in_block
                self.stats.rescued += 1
                del self.failures[failures_before:]
                self.reporter.rescued(self.play_name, self.display_name(task.name),
                                      str(task.where))
        if task.always:
            ok = self.run_tasks(task.always, inner, pdir) and ok
        return ok

    # -- tasks -----------------------------------------------------------------------
    def run_task(self, task: Task, layers: list[Mapping[str, Any]], pdir: Path,
                 handler: bool = False) -> bool:
        if not handler and not self.selected(task):
            return True
        if task.vars:
            layers = [LazyVars(task.vars, self.templar, self.ref), *layers]
        start = time.perf_counter()
        if task.loop is None:
            result, attempts = self.execute(task, layers, pdir, None)
            if task.register:  # skipped tasks register too (skipped=True), as in Ansible
                self.facts[task.register] = result.to_vars()
            return self.report(task, result, None, time.perf_counter() - start, attempts)
        try:
            items = self.templar.render(task.loop, self.scope(layers))
        except ToolkitError as exc:
            return self.report(task, Result(failed=True, msg=exc.one_line()), None, 0.0)
        if not isinstance(items, list):
            msg = f"loop needs a list, got {type(items).__name__}"
            return self.report(task, Result(failed=True, msg=msg), None, 0.0)
        results: list[dict[str, Any]] = []
        ok = True
        statuses = []
        for item in items:
            t0 = time.perf_counter()
            result, attempts = self.execute(task, layers, pdir, {task.loop_var: item})
            results.append({**result.to_vars(), task.loop_var: item})
            label = item
            if task.loop_label is not None:
                try:
                    label = self.templar.render(task.loop_label,
                                                self.scope(layers, {task.loop_var: item}))
                except ToolkitError:
                    pass  # a label is cosmetic: show the item itself
            statuses.append(result.status)
            ok = self.report(task, result, label, time.perf_counter() - t0, attempts,
                             count=False) and ok
        if task.register:
            self.facts[task.register] = {
                "results": results,
                "changed": "changed" in statuses,
                "failed": "failed" in statuses,
                "skipped": bool(statuses) and all(s == "skipped" for s in statuses),
                "msg": f"{len(items)} items",
            }
        self.count(task, statuses)
        return ok

    def count(self, task: Task, statuses: list[str]) -> None:
        """A looped task counts once, like Ansible: failed > changed > ok > skipped."""
        if "failed" in statuses:
            if task.ignore_errors:
                self.stats.ignored += 1
            else:
                self.stats.failed += 1
        elif not statuses or all(s == "skipped" for s in statuses):
            self.stats.skipped += 1
        else:
            self.stats.ok += 1
            if "changed" in statuses:
                self.stats.changed += 1

    def report(self, task: Task, result: Result, item: Any, duration: float, attempts: int = 1,
               count: bool = True) -> bool:
        """Record, print and count one outcome; notify handlers. False: stop the play."""
        status = result.status
        aggregate = bool(task.module_cls is not None and task.module_cls.aggregates)
        if result.failed and task.ignore_errors:
            status = "ignored"
        msg = "(output hidden by no_log)" if task.no_log and result.msg else result.msg
        record = TaskRecord(self.play_name, self.display_name(task.name), status, msg,
                            str(task.where), item, result, duration)
        self.records.append(record)
        self.reporter.task(record, no_log=task.no_log, attempts=attempts)
        if result.changed and not result.failed and task.notify:
            self.notified.update(task.notify)
        if count and not aggregate:
            self.count(task, [result.status])
        if result.failed and not task.ignore_errors:
            if not aggregate:
                self.failures.append(record)
            self.last_failure = {"name": record.name, "msg": msg, "where": str(task.where),
                                 "module": task.module, "result": result.to_vars()}
            return False
        return True

    def execute(self, task: Task, layers: list[Mapping[str, Any]], pdir: Path,
                item: Mapping[str, Any] | None) -> tuple[Result, int]:
        """One task (or loop item): when, retries/until, changed_when/failed_when."""
        scope = self.scope(layers, item)
        try:
            if task.when is not None and not self.templar.truthy(task.when, scope):
                return Result(skipped=True, msg="condition false"), 1
            until = task.until
            retries = self.templar.render(task.retries, scope)
            if until is None and retries is None:
                attempts_max = 1
            else:
                attempts_max = int(DEFAULT_RETRIES if retries is None else retries) + 1
            delay = self.templar.render(task.delay, scope)
            delay = DEFAULT_DELAY if delay is None else float(delay)
        except (ToolkitError, TypeError, ValueError) as exc:
            return Result(failed=True, msg=_one_line(exc)), 1
        attempt = 0
        while True:
            attempt += 1
            result = self.call(task, scope, pdir)
            try:
                result = self.apply_conditions(task, result, scope)
                if attempts_max == 1:
                    return result, attempt
                done = (not result.failed) if until is None else self.templar.truthy(
                    until, self.with_register(task, result, scope))
            except ToolkitError as exc:
                return Result(failed=True, msg=exc.one_line(), data=result.data), attempt
            if done:
                return result, attempt
            if attempt >= attempts_max:
                result.failed = True
                result.msg = f"gave up after {attempt} attempts: {result.msg or 'until not met'}"
                return result, attempt
            time.sleep(delay)
            scope = self.scope(layers, item)

    def with_register(self, task: Task, result: Result, scope: Mapping[str, Any]
                      ) -> Mapping[str, Any]:
        if not task.register:
            return scope
        self.facts[task.register] = result.to_vars()
        return scope

    def apply_conditions(self, task: Task, result: Result, scope: Mapping[str, Any]) -> Result:
        if task.changed_when is None and task.failed_when is None:
            return result
        view = self.with_register(task, result, scope)
        if task.failed_when is not None:
            result.failed = self.templar.truthy(task.failed_when, view)
        if task.changed_when is not None:
            result.changed = self.templar.truthy(task.changed_when, view)
        return result

    def call(self, task: Task, scope: Mapping[str, Any], pdir: Path) -> Result:
        cls = task.module_cls
        try:
            raw = self.templar.render(task.args, scope) if cls.template_args else task.args
            args = cls.Args.model_validate(raw)
        except ValidationError as exc:
            return Result(failed=True, msg=_bad_args(exc))
        except ToolkitError as exc:
            return Result(failed=True, msg=exc.one_line())
        module = self.instances.get(cls)
        if module is None:
            module = self.instances[cls] = cls()
        ctx = ModuleContext(
            check_mode=self.check if task.check_mode is None else bool(task.check_mode),
            diff_mode=self.diff,
            variables=scope,
            templar=self.templar,
            playbook_dir=pdir,
            root=self.root,
            state_dir=self.state_dir,
            task_name=task.name,
            cache=self.cache,
            include=lambda path, v: self.include(path, v, task),
            resources=self.resources,
        )
        try:
            result = module.run(args, ctx)
        except ToolkitError as exc:
            return Result(failed=True, msg=exc.one_line())
        except Exception as exc:  # a module bug must fail the task, not kill the run
            if os.environ.get("MLGITOPS_DEBUG") == "1":
                traceback.print_exc()
            return Result(failed=True, msg=f"{type(exc).__name__}: {exc}")
        if result.facts:
            self.facts.update(result.facts)
        return result

    # -- include ---------------------------------------------------------------------
    def include(self, path: Path, variables: dict[str, Any], task: Task) -> Result:
        playbook = task.included
        if playbook is None or playbook.path != path.resolve():
            playbook = load_playbook(path, self.templar, self.modules)
        self.reporter.include_start(playbook.display)
        before = Stats(**self.stats.as_dict())
        self.includes.insert(0, variables)
        outer_tags = self.forced_tags
        self.forced_tags = outer_tags | task.tags
        try:
            ok = self.run_plays(playbook)
        finally:
            self.includes.pop(0)
            self.forced_tags = outer_tags
        changed = self.stats.changed - before.changed
        msg = f"{playbook.display}: {changed} changed" if ok else \
            f"{playbook.display}: {self.last_failure.get('msg', 'failed')}"
        return Result(changed=changed > 0, failed=not ok, msg=msg,
                      data={"changed_tasks": changed})


def _one_line(exc: Exception) -> str:
    return exc.one_line() if isinstance(exc, ToolkitError) else f"{type(exc).__name__}: {exc}"


__all__ = ["Engine", "TemplateFailure"]
