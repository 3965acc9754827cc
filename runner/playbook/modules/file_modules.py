"""File modules: template (Jinja2 src -> dest), copy (content/src -> dest), render (specs ->
generated/<env>/ through runner.render, the one writer of generated/).

All three compare the wanted content with what is on disk and write only when it differs
(atomically: temp file + rename), so a rerun is a no-op; the diff is computed in check mode
too and only the write is guarded.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from runner.playbook.modules import Module, ModuleContext
from runner.playbook.result import Result


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None


def _write_atomic(path: Path, content: str, mode: int | None) -> None:
    import tempfile

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(content)
        if mode is not None:
            os.chmod(tmp, mode)
        elif path.exists():
            os.chmod(tmp, path.stat().st_mode & 0o7777)
        else:
            os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def converge_file(dest: Path, content: str, ctx: ModuleContext, mode: int | None = None,
                  label: str | None = None) -> Result:
    """Make ``dest`` hold ``content``: the shared compare/diff/guarded-write of file modules."""
    shown = label or str(dest)
    current = _read(dest)
    mode_ok = mode is None or current is None or (dest.stat().st_mode & 0o7777) == mode
    if current == content and mode_ok:
        return Result(msg=f"{shown} is up to date", data={"dest": str(dest)})
    diff = {"before": current or "", "after": content,
            "before_header": shown if current is not None else "/dev/null", "after_header": shown}
    what = "create" if current is None else ("update" if current != content else "chmod")
    if not ctx.check_mode:
        _write_atomic(dest, content, mode)
    verb = f"would {what}" if ctx.check_mode else f"{what}d" if what != "chmod" else "chmodded"
    return Result(changed=True, msg=f"{verb} {shown}", diff=diff, data={"dest": str(dest)})


def _mode(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, int):
        return value
    return int(str(value), 8)


def _source(path: str, ctx: ModuleContext) -> Path:
    """Template/copy sources: next to the playbook first (like Ansible), then the repo root."""
    found: dict[tuple[Path, str], Path] = ctx.cache.setdefault("files.sources", {})
    key = (ctx.playbook_dir, path)
    hit = found.get(key)
    if hit is not None:
        return hit
    p = Path(path)
    result = ctx.playbook_dir / p
    if p.is_absolute():
        result = p
    else:
        for base in (ctx.playbook_dir, ctx.playbook_dir / "templates", ctx.root):
            if (base / p).is_file():
                result = base / p
                break
    found[key] = result
    return result


# -- template -----------------------------------------------------------------------
class TemplateArgs(_Strict):
    src: str
    dest: str
    mode: str | int | None = None
    vars: dict[str, Any] = Field(default_factory=dict)


class Template(Module):
    """Render a Jinja2 file (sandboxed, strict) with the task's variables into ``dest``."""

    Args = TemplateArgs

    def run(self, args: TemplateArgs, ctx: ModuleContext) -> Result:
        src = _source(args.src, ctx)
        texts: dict[Path, str] = ctx.cache.setdefault("template.sources", {})
        text = texts.get(src)
        if text is None:
            try:
                text = texts[src] = src.read_text(encoding="utf-8")
            except OSError as exc:
                return Result(failed=True, msg=f"cannot read template {args.src}: {exc.strerror}")
        variables = ctx.variables
        if args.vars:
            from collections import ChainMap

            variables = ChainMap(args.vars, variables)  # type: ignore[arg-type]
        try:
            content = ctx.templar.render_file(text, variables)
        except Exception as exc:
            msg = getattr(exc, "message", str(exc))
            return Result(failed=True, msg=f"{args.src}: {msg}")
        return converge_file(ctx.resolve(args.dest), content, ctx, _mode(args.mode), args.dest)


# -- copy ---------------------------------------------------------------------------
class CopyArgs(_Strict):
    dest: str
    content: str | None = None
    src: str | None = None
    mode: str | int | None = None

    @model_validator(mode="after")
    def _one_source(self) -> CopyArgs:
        if (self.content is None) == (self.src is None):
            raise ValueError("give exactly one of content or src")
        return self


class Copy(Module):
    """Write literal ``content`` (or a file's text, unrendered) to ``dest``."""

    Args = CopyArgs

    def run(self, args: CopyArgs, ctx: ModuleContext) -> Result:
        if args.content is not None:
            content = args.content
        else:
            assert args.src is not None
            try:
                content = _source(args.src, ctx).read_text(encoding="utf-8")
            except OSError as exc:
                return Result(failed=True, msg=f"cannot read {args.src}: {exc.strerror}")
        return converge_file(ctx.resolve(args.dest), content, ctx, _mode(args.mode), args.dest)


# -- render -------------------------------------------------------------------------
class RenderArgs(_Strict):
    env: str = "dev"
    prune: bool = False  # also delete files under generated/<env>/ that nothing renders


class Render(Module):
    """Validate the specs and render every artifact into ``generated/<env>/``: the same plan
    and writer as ``inv render`` (only services whose inputs changed are rendered)."""

    Args = RenderArgs

    def run(self, args: RenderArgs, ctx: ModuleContext) -> Result:
        # Heavy-ish and owned elsewhere: imported only when a playbook renders.
        from runner.render.incremental import apply_render
        from runner.render.render_command import plan_env

        plan = plan_env(ctx.root, args.env, with_old=True, cache=ctx.state_dir / "cache")
        stale = plan.stale
        wanted = [c for c in plan.changes if args.prune or c.op != "delete"]
        changed = [c.path for c in wanted if c.op != "delete"]
        removed = [c.path for c in wanted if c.op == "delete"]
        if not ctx.check_mode:
            apply_render(plan, prune=args.prune)
        if not wanted:
            msg = f"{plan.files} files in generated/{args.env}/ up to date"
            if stale:
                msg += f"; {len(stale)} stale (prune: true removes them)"
            return Result(msg=msg, data={"files": plan.files, "changed_files": [],
                                         "stale": stale})
        label = f"generated/{args.env}"
        diffs = [{"before": c.old or "", "after": c.new or "",
                  "before_header": f"{label}/{c.path}" if c.old is not None else "/dev/null",
                  "after_header": f"{label}/{c.path}" if c.new is not None else "/dev/null"}
                 for c in wanted]
        verb = "would write" if ctx.check_mode else "wrote"
        msg = f"{verb} {len(changed)} of {plan.files} files in {label}/"
        if removed:
            msg += f", {'would remove' if ctx.check_mode else 'removed'} {len(removed)} stale"
        return Result(changed=True, msg=msg, diff={"files": diffs},
                      data={"files": plan.files, "changed_files": changed, "stale": stale})
