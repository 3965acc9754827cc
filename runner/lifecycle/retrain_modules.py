"""Playbook modules of the retrain play: ``retrain_data``, ``retrain_train``,
``retrain_gate`` and ``promote`` (listed by ``retrain_modules()``; the commands hand them
to the engine through ``runner.playbook_catalog``).

Thin: each parses its arguments and calls one function of ``runner.lifecycle.steps`` or
``runner.lifecycle.promote``. They pass one run folder between them (``run_dir``). Check
mode changes nothing: data and training are reported as what would run.
"""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from runner.errors import ToolkitError
from runner.lifecycle.common import ServiceContext, service_context
from runner.playbook.modules import Module, ModuleContext
from runner.playbook.result import Result


class _Args(BaseModel):
    model_config = ConfigDict(extra="forbid")
    service: str


def _ctx(args: _Args, ctx: ModuleContext) -> ServiceContext:
    return service_context(ctx.root, args.service, str(ctx.variables.get("environment") or "dev"))


def _actor() -> str:
    from runner.state import actor

    return actor()


class DataArgs(_Args):
    data: str = ""


class RetrainData(Module):
    """Pull the project's data with DVC (or take ``data``), validate it against the schema."""

    Args = DataArgs

    def run(self, args: DataArgs, ctx: ModuleContext) -> Result:
        from runner.lifecycle.steps import new_run_dir, prepare_data

        svc = _ctx(args, ctx)
        if ctx.check_mode:
            return Result(changed=True, msg=f"check mode: would validate "
                          f"{args.data or svc.raw_data} and retrain {args.service}",
                          data={"run_dir": "", "path": args.data or str(svc.raw_data)})
        run_dir = new_run_dir(svc)
        try:
            found = prepare_data(svc, ctx.resolve(args.data) if args.data else None, run_dir)
        except ToolkitError as exc:
            return Result(failed=True, msg=f"data validation: {exc.one_line()}",
                          data={"run_dir": str(run_dir)})
        note = f" ({found['note']})" if found["note"] else ""
        return Result(msg=f"{found['rows']} valid rows from {found['path']}{note}", data=found)


class RunArgs(_Args):
    run_dir: str


class RetrainTrain(Module):
    """Fit the project's model on the run's data (seeded split like ``dvc repro``)."""

    Args = RunArgs

    def run(self, args: RunArgs, ctx: ModuleContext) -> Result:
        from runner.lifecycle.steps import train

        if ctx.check_mode:
            return Result(changed=True, msg="check mode: would train a candidate")
        out = train(_ctx(args, ctx), Path(args.run_dir))
        return Result(changed=True, data=out,
                      msg=f"trained on {out['train_rows']} rows in {out['train_s']}s, "
                          f"{out['holdout_rows']} held out")


class GateArgs(RunArgs):
    dataset: dict[str, object]


class RetrainGate(Module):
    """Candidate vs champion on the same held-out rows, the spec's gate, registration."""

    Args = GateArgs

    def run(self, args: GateArgs, ctx: ModuleContext) -> Result:
        from runner.lifecycle.steps import compare_and_register

        if ctx.check_mode:
            return Result(msg="check mode: would compare, gate and register",
                          data={"passed": False, "summary": "check mode: no candidate"})
        out = compare_and_register(_ctx(args, ctx), Path(args.run_dir), dict(args.dataset),
                                   _actor())
        return Result(changed=True, data=out,
                      msg=f"registered v{out['candidate_version']}; {out['summary']}")


class PromoteArgs(RunArgs):
    reason: str = ""
    deploy: bool = True
    force: bool = False  # inside a freeze window (audited with the reason)


class Promote(Module):
    """Pin the gated candidate in the spec, commit with the comparison, deploy it."""

    Args = PromoteArgs

    def run(self, args: PromoteArgs, ctx: ModuleContext) -> Result:
        from runner.lifecycle.promote import promote

        outcome = json.loads((Path(args.run_dir) / "comparison.json").read_text())
        svc = _ctx(args, ctx)
        if ctx.check_mode:
            return Result(changed=True, msg=f"check mode: would pin v{outcome['candidate_version']}"
                          f" in {svc.spec_file.name}, commit and deploy")
        if not outcome["passed"]:
            return Result(failed=True, msg=f"refusing to promote: {outcome['summary']}")
        done = promote(svc, outcome, actor=_actor(), reason=args.reason or "retrain",
                       deploy=args.deploy, force=args.force)
        (Path(args.run_dir) / "promotion.json").write_text(json.dumps(done, indent=2))
        return Result(changed=True, failed=not done["ok"], data=done,
                      msg=f"v{done['from_version']} -> v{done['to_version']} "
                          f"(commit {done['commit'][:8] or 'none'}): {done['msg']}",
                      diff={"before": {"model.version": done["from_version"]},
                            "after": {"model.version": done["to_version"]}})


def retrain_modules() -> dict[str, type[Module]]:
    """This package's playbook modules by task key (what ``playbooks/retrain.yaml`` uses)."""
    return {"retrain_data": RetrainData, "retrain_train": RetrainTrain,
            "retrain_gate": RetrainGate, "promote": Promote}
