"""Load a playbook file and validate all of it before anything runs.

YAML is read by the shared ``runner.yamlpos`` (libyaml, safe tags only, no aliases, size
and depth capped) into mappings that remember the line and column of each key and value.
Every problem becomes one ``PlaybookError`` line pointing at the user's file:
``playbooks/x.yaml:12:7 tasks[3].http.methd: unknown argument (did you mean 'method'?)``.

Module arguments are checked with the module's pydantic model. Values that are templates
(``"{{ svc.port }}"``) can only be typed at run time, so the load-time check leaves them
out and forgives only what their absence causes (a "missing" error for that very key, or a
model-level rule); the engine validates the rendered arguments again before ``run``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ValidationError

from runner.errors import Location, PlaybookError, printable
from runner.playbook.modules import ModuleSet
from runner.playbook.playbook_model import (
    BLOCK_KEYWORDS,
    HANDLER_KEYWORDS,
    PLAY_KEYWORDS,
    TASK_KEYWORDS,
    Play,
    Playbook,
    Task,
)
from runner.playbook.playbook_yaml import PosDict, PosList, YamlFault, load_yaml
from runner.playbook.templating import Templar, TemplateFailure, has_template, is_template


def _close(word: str, pool: list[str], n: int = 1) -> list[str]:
    """Did-you-mean suggestions (difflib is imported only when there is an error)."""
    import difflib

    return difflib.get_close_matches(word, pool, n=n)


def display_path(path: Path) -> str:
    """Relative to the working directory when inside it (``playbooks/deploy.yaml``)."""
    try:
        return str(path.relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


class _Loader:
    """Builds the model for one file; ``stack`` guards include cycles."""

    def __init__(self, path: Path, templar: Templar, stack: tuple[Path, ...],
                 modules: ModuleSet) -> None:
        self.path = path
        self.modules = modules
        self.display = display_path(path)
        self.templar = templar
        self.stack = stack

    def fail(self, msg: str, pos: tuple[int, int] | None, field: str | None) -> PlaybookError:
        line, col = pos if pos else (None, None)
        # Keys and values of the user's file reach both: keep the error one printable line.
        return PlaybookError(printable(msg), location=Location(self.display, line, col),
                             field=printable(field) if field else field)

    def load(self) -> Playbook:
        try:
            text = self.path.read_text(encoding="utf-8")
        except OSError as exc:
            raise PlaybookError(f"cannot read playbook: {exc.strerror}",
                                location=Location(self.display)) from None
        except UnicodeDecodeError as exc:
            raise PlaybookError(f"cannot read playbook: not UTF-8 text (byte {exc.start})",
                                location=Location(self.display)) from None
        try:
            data = load_yaml(text)
        except YamlFault as fault:  # syntax, tags, aliases, limits, duplicate keys
            raise self.fail(fault.message, fault.mark, None) from None
        if not isinstance(data, PosList) or not data:
            raise self.fail("a playbook is a non-empty list of plays", None, None)
        plays = []
        for i, raw in enumerate(data):
            prefix = "" if len(data) == 1 else f"[{i}]."
            plays.append(self.play(raw, data.item_pos[i], prefix, i))
        return Playbook(path=self.path, display=self.display, plays=plays)

    def play(self, raw: Any, pos: tuple[int, int], prefix: str, index: int) -> Play:
        if not isinstance(raw, PosDict):
            raise self.fail("a play is a mapping with name, vars, tasks, handlers", pos, None)
        self.check_keys(raw, PLAY_KEYWORDS, prefix.rstrip(".") or None, "play keyword")
        tags = self.tags(raw, f"{prefix}tags")
        play_vars = self.mapping(raw, "vars", f"{prefix}vars")
        hseq = self.seq(raw, "handlers", f"{prefix}handlers")
        handlers = [
            self.task(t, hseq.item_pos[j], f"{prefix}handlers[{j}]", tags, handler=True)
            for j, t in enumerate(hseq)
        ]
        tseq = self.seq(raw, "tasks", f"{prefix}tasks")
        tasks = [
            self.task(t, tseq.item_pos[j], f"{prefix}tasks[{j}]", tags)
            for j, t in enumerate(tseq)
        ]
        listeners = {h.name for h in handlers} | {n for h in handlers for n in h.listen}
        for task in _walk(tasks):
            for name in task.notify:
                if name not in listeners:
                    raise PlaybookError(f"notifies unknown handler {name!r}",
                                        location=task.where, field=f"{task.keypath}.notify")
        self.precompile(dict(play_vars), raw, "vars", f"{prefix}vars")
        name = str(raw.get("name") or f"play {index + 1}")
        return Play(name, Location(self.display, *pos), dict(play_vars), tasks, handlers, tags)

    # -- helpers ---------------------------------------------------------------------
    def check_keys(self, raw: PosDict, allowed: frozenset[str], field: str | None,
                   what: str) -> None:
        for key in raw:
            if key not in allowed:
                hint = _close(str(key), sorted(allowed), n=1)
                extra = f" (did you mean {hint[0]!r}?)" if hint else ""
                where = f"{field}.{key}" if field else str(key)
                raise self.fail(f"unknown {what}{extra}", raw.key_pos[key], where)

    def seq(self, raw: PosDict, key: str, field: str) -> PosList:
        value = raw.get(key)
        if value is None:
            empty = PosList()
            empty.pos, empty.item_pos = raw.pos, []
            return empty
        if not isinstance(value, PosList):
            raise self.fail("must be a list", raw.val_pos[key], field)
        return value

    def mapping(self, raw: PosDict, key: str, field: str) -> dict[str, Any]:
        value = raw.get(key)
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise self.fail("must be a mapping", raw.val_pos[key], field)
        return value

    def tags(self, raw: PosDict, field: str) -> frozenset[str]:
        value = raw.get("tags")
        if value is None:
            return frozenset()
        if isinstance(value, str):
            return frozenset(t.strip() for t in value.split(",") if t.strip())
        if isinstance(value, list) and all(isinstance(t, str) for t in value):
            return frozenset(value)
        raise self.fail("tags are a string or a list of strings", raw.val_pos["tags"], field)

    def names(self, raw: PosDict, key: str, field: str) -> list[str]:
        value = raw.get(key)
        if value is None:
            return []
        if isinstance(value, str):
            return [value]
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return list(value)
        raise self.fail("must be a name or a list of names", raw.val_pos[key], field)

    def expression(self, raw: PosDict, key: str, field: str) -> Any:
        value = raw.get(key)
        for expr in value if isinstance(value, list) else [value]:
            if not isinstance(expr, str | bool | int | type(None)):
                raise self.fail("must be an expression or a list of them", raw.val_pos[key],
                                field)
            try:
                if isinstance(expr, str):
                    if is_template(expr):
                        self.templar.precompile(expr)
                    else:
                        self.templar.compile_expression(expr)
            except TemplateFailure as exc:
                raise self.fail(exc.message, raw.val_pos[key], field) from None
        return value

    def precompile(self, value: Any, raw: PosDict, key: str, field: str) -> None:
        try:
            self.templar.precompile(value)
        except TemplateFailure as exc:
            raise self.fail(exc.message, raw.val_pos.get(key, raw.pos), field) from None

    def number(self, raw: PosDict, key: str, field: str) -> Any:
        value = raw.get(key)
        if value is None or is_template(value):
            return value
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise self.fail("must be a non-negative number", raw.val_pos[key], field)
        return value

    # -- tasks -----------------------------------------------------------------------
    def task(self, raw: Any, pos: tuple[int, int], field: str, inherited: frozenset[str],
             handler: bool = False) -> Task:
        if not isinstance(raw, PosDict):
            raise self.fail("a task is a mapping: a module key plus keywords", pos, field)
        where = Location(self.display, *pos)
        tags = inherited | self.tags(raw, f"{field}.tags")
        common: dict[str, Any] = dict(
            where=where,
            keypath=field,
            tags=tags,
            when=self.expression(raw, "when", f"{field}.when"),
            vars=dict(self.mapping(raw, "vars", f"{field}.vars")),
            ignore_errors=bool(raw.get("ignore_errors", False)),
            check_mode=raw.get("check_mode"),
        )
        self.precompile(common["vars"], raw, "vars", f"{field}.vars")
        if "block" in raw:
            self.check_keys(raw, BLOCK_KEYWORDS, field, "block keyword")
            parts = {}
            for part in ("block", "rescue", "always"):
                pseq = self.seq(raw, part, f"{field}.{part}")
                parts[part] = [
                    self.task(t, pseq.item_pos[j], f"{field}.{part}[{j}]", tags)
                    for j, t in enumerate(pseq)
                ]
            return Task(name=str(raw.get("name") or "block"), block=parts["block"],
                        rescue=parts["rescue"], always=parts["always"], **common)

        allowed = HANDLER_KEYWORDS if handler else TASK_KEYWORDS
        candidates = [k for k in raw if k not in allowed]
        # "notify" is both a keyword (handler names) and a module (send a message).
        if not candidates and isinstance(raw.get("notify"), dict):
            candidates = ["notify"]
        module = next((k for k in candidates if self.modules.known(str(k))), None)
        for key in candidates:
            if key == module:
                continue
            what = "task keyword" if module else "module"
            pool = sorted(allowed) + (self.modules.names() if not module else [])
            hint = _close(str(key), pool, n=1)
            extra = f" (did you mean {hint[0]!r}?)" if hint else ""
            raise self.fail(f"unknown {what} {key!r}{extra}", raw.key_pos[key], f"{field}.{key}")
        if module is None:
            raise self.fail("task has no module (one of: " + ", ".join(self.modules.names()) + ")",
                            pos, field)
        cls = self.modules.get(module)
        args = self.module_args(cls, module, raw, field)
        loop_control = self.mapping(raw, "loop_control", f"{field}.loop_control")
        loop = raw.get("loop")
        if loop is not None and not isinstance(loop, list) and not is_template(loop):
            raise self.fail("loop takes a list or a template", raw.val_pos["loop"],
                            f"{field}.loop")
        register = raw.get("register")
        if register is not None and not (isinstance(register, str) and register.isidentifier()):
            raise self.fail("register takes a variable name", raw.val_pos["register"],
                            f"{field}.register")
        self.precompile(loop, raw, "loop", f"{field}.loop")
        task = Task(
            name=str(raw.get("name") or module),
            module=module,
            module_cls=cls,
            args=args,
            loop=loop,
            loop_var=str(raw.get("loop_var") or loop_control.get("loop_var") or "item"),
            loop_label=loop_control.get("label"),
            register=register,
            retries=self.number(raw, "retries", f"{field}.retries"),
            until=self.expression(raw, "until", f"{field}.until"),
            delay=self.number(raw, "delay", f"{field}.delay"),
            # with the notify module, the "notify" key holds its arguments, not handler names
            notify=[] if module == "notify" else self.names(raw, "notify", f"{field}.notify"),
            changed_when=self.expression(raw, "changed_when", f"{field}.changed_when"),
            failed_when=self.expression(raw, "failed_when", f"{field}.failed_when"),
            no_log=bool(raw.get("no_log", False)),
            listen=self.names(raw, "listen", f"{field}.listen"),
            **common,
        )
        if module == "include":
            task.included = self.include(args, raw, field)
        return task

    def module_args(self, cls: Any, module: str, raw: PosDict, field: str) -> Any:
        value = raw[module]
        mfield = f"{field}.{module}"
        if value is None:
            value = {}
        if not isinstance(value, dict):
            if cls.free_form is None:
                raise self.fail(f"module {module!r} takes a mapping of arguments",
                                raw.val_pos[module], mfield)
            value = {cls.free_form: value}
            positions: dict[str, tuple[int, int]] = {cls.free_form: raw.val_pos[module]}
            key_positions = positions
        else:
            positions = getattr(value, "val_pos", {})
            key_positions = getattr(value, "key_pos", {})
        if cls.template_args:
            for key, item in value.items():
                try:
                    self.templar.precompile(item)
                except TemplateFailure as exc:
                    raise self.fail(exc.message, positions.get(key, raw.val_pos[module]),
                                    f"{mfield}.{key}") from None
        # A key whose value holds a template anywhere can only be typed once rendered.
        templated = {k for k, v in value.items() if has_template(v)}
        static = {k: v for k, v in value.items() if k not in templated}
        try:
            cls.Args.model_validate(static)
        except ValidationError as exc:
            errors = exc.errors()
            by_key: dict[Any, list[Any]] = {}
            for err in errors:
                if len(err["loc"]) >= 2 and isinstance(err["loc"][1], str):
                    by_key.setdefault(err["loc"][0], []).append(err["loc"][1])
            for key, tags in by_key.items():
                if len(tags) > 1 and key in static:
                    # A union (int | list[int]): one error per member; say it once.
                    where = positions.get(key, raw.val_pos[module])
                    raise self.fail(f"invalid value {static[key]!r} (expected "
                                    f"{' or '.join(tags)})", where, f"{mfield}.{key}") from None
            for err in errors:
                loc = err["loc"]
                key = str(loc[0]) if loc else ""
                if err["type"] == "missing" and key in templated:
                    continue
                if not loc and templated:
                    continue  # a cross-field rule that a templated value may satisfy later
                path = mfield + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc)
                if err["type"] == "extra_forbidden":
                    names = [f.alias or n for n, f in cls.Args.model_fields.items()]
                    hint = _close(str(key), names, n=1)
                    extra = f"did you mean {hint[0]!r}?" if hint else (
                        "expected one of: " + ", ".join(names))
                    raise self.fail(f"unknown argument ({extra})",
                                    key_positions.get(key, raw.val_pos[module]), path) from None
                if err["type"] == "missing":
                    raise self.fail("required argument is missing", raw.key_pos[module],
                                    path) from None
                msg = str(err["msg"]).removeprefix("Value error, ")
                raise self.fail(msg, positions.get(key, raw.val_pos[module]), path) from None
        return value

    def include(self, args: dict[str, Any], raw: PosDict, field: str) -> Playbook | None:
        target = args.get("file")
        if not isinstance(target, str) or is_template(target):
            return None  # resolved and loaded at run time
        path = (self.path.parent / target).resolve()
        if path in self.stack:
            raise self.fail(f"include cycle: {target}", raw.key_pos["include"],
                            f"{field}.include.file")
        if not path.is_file():
            raise self.fail(f"included playbook not found: {target}", raw.key_pos["include"],
                            f"{field}.include.file")
        return _Loader(path, self.templar, self.stack + (path,), self.modules).load()


def _walk(tasks: list[Task]) -> list[Task]:
    out: list[Task] = []
    for t in tasks:
        out.append(t)
        if t.block is not None:
            out.extend(_walk(t.block) + _walk(t.rescue) + _walk(t.always))
    return out


def load_playbook(path: Path, templar: Templar, modules: ModuleSet | None = None) -> Playbook:
    """Parse and validate a playbook (and literal includes) against ``modules`` (default:
    the built-ins); raise PlaybookError on the first problem."""
    path = Path(path).resolve()
    return _Loader(path, templar, (path,), modules or ModuleSet()).load()
