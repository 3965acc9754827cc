"""Core modules: set_fact, assert, debug, command (argv only) and include."""

from __future__ import annotations

import os
import subprocess
import time
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from runner.playbook.modules import Module, ModuleContext
from runner.playbook.result import Result

_OUTPUT_LIMIT = 64 * 1024  # registered stdout/stderr are capped; logs never hold them


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# -- set_fact -----------------------------------------------------------------------
class SetFactArgs(BaseModel):
    model_config = ConfigDict(extra="allow")


class SetFact(Module):
    """Define variables for the rest of the run: ``set_fact: {x: "{{ y + 1 }}"}``."""

    Args = SetFactArgs

    def run(self, args: SetFactArgs, ctx: ModuleContext) -> Result:
        facts = dict(args.model_extra or {})
        bad = [k for k in facts if not str(k).isidentifier()]
        if bad:
            return Result(failed=True, msg=f"not a variable name: {', '.join(map(str, bad))}")
        return Result(facts=facts, data={"facts": sorted(facts)})


# -- assert -------------------------------------------------------------------------
class AssertArgs(_Strict):
    that: list[str | bool]
    fail_msg: str | None = None
    success_msg: str | None = None

    @field_validator("that", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str | bool) else value


class Assert(Module):
    """Every expression in ``that`` must hold (bare Jinja expressions, like ``when``)."""

    Args = AssertArgs
    free_form = "that"

    def run(self, args: AssertArgs, ctx: ModuleContext) -> Result:
        for expr in args.that:
            if not ctx.templar.truthy(expr, ctx.variables):
                msg = args.fail_msg or f"assertion failed: {expr}"
                return Result(failed=True, msg=msg, data={"assertion": str(expr)})
        return Result(msg=args.success_msg or "all assertions passed")


# -- debug --------------------------------------------------------------------------
class DebugArgs(_Strict):
    msg: Any = None
    var: str | None = None


class Debug(Module):
    """Print a message or a variable's value (operators' breadcrumbs in runbooks)."""

    Args = DebugArgs
    free_form = "msg"

    def run(self, args: DebugArgs, ctx: ModuleContext) -> Result:
        if args.var is not None:
            value = ctx.templar.evaluate(args.var, ctx.variables)
            return Result(msg=f"{args.var} = {value!r}", data={args.var: value})
        return Result(msg=str(args.msg) if args.msg is not None else "")


# -- command ------------------------------------------------------------------------
class CommandArgs(_Strict):
    argv: list[str]
    cwd: str | None = None
    creates: str | None = None
    removes: str | None = None
    env: dict[str, str] = Field(default_factory=dict)
    timeout: float | None = None
    stdin: str | None = None

    @field_validator("argv", mode="before")
    @classmethod
    def _no_shell(cls, value: Any) -> Any:
        if isinstance(value, str):
            raise ValueError(
                "command takes an argv list, not a shell string: write "
                f"{value.split()!r} (no shell: pipes, globs and $VARS are not expanded)"
            )
        if isinstance(value, list):
            if not value:
                raise ValueError("argv is empty")
            return [str(v).lower() if isinstance(v, bool) else str(v) if isinstance(v, int | float)
                    else v for v in value]
        return value


class Command(Module):
    """Run a program (argv list, never a shell). Changed unless ``creates``/``removes`` say
    the work is already done; check mode reports what would run and runs nothing."""

    Args = CommandArgs
    free_form = "argv"

    def run(self, args: CommandArgs, ctx: ModuleContext) -> Result:
        cwd = ctx.resolve(args.cwd) if args.cwd else ctx.root
        # Guards are relative to the command's working directory, like Ansible's chdir.
        if args.creates and (cwd / args.creates).exists():
            return Result(msg=f"skipped, since {args.creates} exists",
                          data={"rc": 0, "stdout": "", "stderr": "", "cmd": args.argv})
        if args.removes and not (cwd / args.removes).exists():
            return Result(msg=f"skipped, since {args.removes} does not exist",
                          data={"rc": 0, "stdout": "", "stderr": "", "cmd": args.argv})
        if ctx.check_mode:
            return Result(changed=True, msg=f"check mode: would run {' '.join(args.argv)}",
                          data={"cmd": args.argv})
        env = {**os.environ, **args.env} if args.env else None
        start = time.perf_counter()
        try:
            proc = subprocess.run(
                args.argv,
                cwd=cwd,
                env=env,
                input=args.stdin,
                capture_output=True,
                text=True,
                timeout=args.timeout,
                check=False,
            )
        except FileNotFoundError:
            return Result(failed=True, msg=f"program not found: {args.argv[0]}",
                          data={"rc": 127, "cmd": args.argv})
        except subprocess.TimeoutExpired:
            return Result(failed=True, msg=f"timed out after {args.timeout}s",
                          data={"rc": -1, "cmd": args.argv})
        data = {
            "rc": proc.returncode,
            "stdout": proc.stdout[-_OUTPUT_LIMIT:],
            "stderr": proc.stderr[-_OUTPUT_LIMIT:],
            "stdout_lines": proc.stdout[-_OUTPUT_LIMIT:].splitlines(),
            "cmd": args.argv,
            "duration_s": round(time.perf_counter() - start, 3),
        }
        if proc.returncode != 0:
            last = (proc.stderr.strip() or proc.stdout.strip()).splitlines()[-1:]
            tail = f": {last[0][:200]}" if last else ""
            return Result(changed=True, failed=True, msg=f"rc={proc.returncode}{tail}", data=data)
        return Result(changed=True, msg="", data=data)


# -- include ------------------------------------------------------------------------
class IncludeArgs(_Strict):
    file: str
    vars: dict[str, Any] = Field(default_factory=dict)


class Include(Module):
    """Run another playbook file (relative to this one) here, with extra ``vars``."""

    Args = IncludeArgs
    free_form = "file"
    aggregates = True

    def run(self, args: IncludeArgs, ctx: ModuleContext) -> Result:
        assert ctx.include is not None
        return ctx.include(ctx.resolve(args.file, base="playbook"), args.vars)
