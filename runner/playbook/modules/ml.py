"""ML lifecycle modules: dvc (argv to the dvc CLI) and mlflow (registry: set_alias, register).

mlflow is imported inside ``run`` (about 4 s); dvc runs as a subprocess of the venv's own
``dvc``. Both tell a no-op from a change so reruns report ``ok``.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, field_validator, model_validator

from runner.playbook.modules import Module, ModuleContext
from runner.playbook.result import Result

# What dvc prints when there was nothing to do (dvc 3).
_UP_TO_DATE = ("Data and pipelines are up to date", "Everything is up to date")
_READ_ONLY = frozenset({"status", "diff", "params", "metrics", "dag", "list", "ls", "version"})


def _dvc_binary() -> str:
    beside = Path(sys.executable).parent / "dvc"
    return str(beside) if beside.exists() else (shutil.which("dvc") or "dvc")


class DvcArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")
    argv: list[str]
    cwd: str | None = None
    timeout: float | None = None

    @field_validator("argv", mode="before")
    @classmethod
    def _no_shell(cls, value: Any) -> Any:
        if isinstance(value, str):
            raise ValueError(f"dvc takes an argv list, e.g. {value.split()!r}")
        if isinstance(value, list) and value and value[0] == "dvc":
            return value[1:]  # "dvc" is implied; accept it written out
        return value


class Dvc(Module):
    """``dvc: [repro]``, ``dvc: {argv: [pull], cwd: projects/bankchurn}``.

    Check mode runs ``dvc status`` for repro/checkout (read-only) to tell whether they would
    change anything; read-only subcommands always run.
    """

    Args = DvcArgs
    free_form = "argv"

    def run(self, args: DvcArgs, ctx: ModuleContext) -> Result:
        if not args.argv:
            return Result(failed=True, msg="dvc needs a subcommand, e.g. [repro]")
        cwd = ctx.resolve(args.cwd) if args.cwd else ctx.root
        sub = args.argv[0]
        if ctx.check_mode and sub not in _READ_ONLY:
            if sub in ("repro", "checkout"):
                proc = self._dvc(["status"], cwd, args.timeout)
                if proc.returncode != 0:
                    return Result(failed=True, msg=f"dvc status: {_last(proc)}")
                if any(s in proc.stdout for s in _UP_TO_DATE):
                    return Result(msg="up to date (dvc status)")
                return Result(changed=True, msg=f"check mode: would run dvc {sub} (dvc status "
                              "reports changes)", diff=proc.stdout)
            return Result(changed=True, msg=f"check mode: would run dvc {' '.join(args.argv)}")
        proc = self._dvc(args.argv, cwd, args.timeout)
        data = {"rc": proc.returncode, "stdout": proc.stdout[-65536:],
                "stderr": proc.stderr[-65536:], "cmd": ["dvc", *args.argv]}
        if proc.returncode != 0:
            return Result(failed=True, msg=f"dvc {sub}: {_last(proc)}", data=data)
        quiet = not proc.stdout.strip() and sub == "checkout"
        unchanged = sub in _READ_ONLY or quiet or any(s in proc.stdout for s in _UP_TO_DATE)
        return Result(changed=not unchanged, data=data,
                      msg="up to date" if unchanged and sub not in _READ_ONLY else "")

    @staticmethod
    def _dvc(argv: list[str], cwd: Path, timeout: float | None) -> Any:
        return subprocess.run([_dvc_binary(), *argv], cwd=cwd, capture_output=True, text=True,
                              timeout=timeout, check=False)


def _last(proc: Any) -> str:
    lines = (proc.stderr.strip() or proc.stdout.strip()).splitlines()
    return lines[-1][:200] if lines else f"rc={proc.returncode}"


class MlflowArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")
    action: Literal["set_alias", "register"]
    model: str  # registered model name
    alias: str | None = None
    version: int | None = None
    source: str | None = None  # model URI to register (runs:/<id>/model, models:/...)
    tracking_uri: str | None = None

    @model_validator(mode="after")
    def _needs(self) -> MlflowArgs:
        if self.action == "set_alias" and (self.alias is None or self.version is None):
            raise ValueError("set_alias needs alias and version")
        if self.action == "register" and self.source is None:
            raise ValueError("register needs source (a model URI)")
        return self


class Mlflow(Module):
    """Registry changes that follow the spec: point an alias at a version, register a model."""

    Args = MlflowArgs

    def run(self, args: MlflowArgs, ctx: ModuleContext) -> Result:
        from mlflow.exceptions import MlflowException

        from runner.ml.registry import client_for

        client = client_for(args.tracking_uri or _tracking_uri(ctx))
        try:
            if args.action == "set_alias":
                return self._set_alias(client, args, ctx, MlflowException)
            return self._register(client, args, ctx)
        except MlflowException as exc:
            return Result(failed=True, msg=f"mlflow {args.action} {args.model}: "
                          f"{str(exc).splitlines()[0][:200]}")

    @staticmethod
    def _set_alias(client: Any, args: MlflowArgs, ctx: ModuleContext, exc_type: Any) -> Result:
        assert args.alias is not None and args.version is not None
        client.get_model_version(args.model, str(args.version))  # must exist: fails otherwise
        try:
            current = int(client.get_model_version_by_alias(args.model, args.alias).version)
        except exc_type:
            current = None
        name = f"{args.model}@{args.alias}"
        if current == args.version:
            return Result(msg=f"{name} is version {current}", data={"version": current})
        diff = {"before": f"{name} -> {current}\n", "after": f"{name} -> {args.version}\n"}
        if not ctx.check_mode:
            client.set_registered_model_alias(args.model, args.alias, str(args.version))
        verb = "would move" if ctx.check_mode else "moved"
        return Result(changed=True, diff=diff, msg=f"{verb} {name}: {current} -> {args.version}",
                      data={"version": args.version, "previous": current})

    @staticmethod
    def _register(client: Any, args: MlflowArgs, ctx: ModuleContext) -> Result:
        import mlflow

        assert args.source is not None
        for mv in client.search_model_versions(f"name='{args.model}'"):
            if args.source in (mv.source, f"runs:/{mv.run_id}/model"):
                return Result(msg=f"{args.source} is already {args.model} v{mv.version}",
                              data={"version": int(mv.version)})
        if ctx.check_mode:
            return Result(changed=True, msg=f"check mode: would register {args.source} as "
                          f"{args.model}")
        mv = mlflow.register_model(args.source, args.model)
        return Result(changed=True, msg=f"registered {args.model} v{mv.version}",
                      data={"version": int(mv.version)})


def _tracking_uri(ctx: ModuleContext) -> str:
    import os

    return os.environ.get("MLFLOW_TRACKING_URI") or \
        f"sqlite:///{ctx.state_dir / 'mlflow' / 'mlflow.db'}"
