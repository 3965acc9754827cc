"""``inv emergency data-corruption --service S [--retrain]``: the runbook's data procedure.

1. validate the service's current data (schema, ranges, nulls: ``runner.ml.data_validation``);
   valid data ends the procedure (nothing to restore);
2. hold retraining on it (``runner.lifecycle.data_hold``: the retrain play refuses);
3. restore the last good data version: first the version the commit pins (the workspace
   file was damaged, DVC's cache still has the pinned one: ``dvc checkout --force``),
   else the newest earlier commit of the project's ``dvc.lock``/``*.dvc`` whose data
   validates (``inv data-rollback``, which commits the restored locks);
4. validate again; the hold is lifted only once the data is good;
5. retrain only when asked; a report under ``<state>/reports/``; a P0 page on failure.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from runner.errors import PermanentError, ToolkitError
from runner.lifecycle.common import ServiceContext, service_context

MAX_CANDIDATES = 10


def checkout_pinned(ctx: ServiceContext) -> None:
    """Put back the raw data the current commit pins, from the DVC cache (replacing the
    damaged workspace copy: it was validated bad, and the cache holds the good one)."""
    import hashlib
    import shutil

    from runner.backup.staging import cache_file, project_outs

    rel = ctx.raw_data.relative_to(ctx.root).as_posix()
    pinned = [o["md5"] for o in project_outs(ctx.root, ctx.project_dir) if o["path"] == rel]
    if not pinned:
        raise PermanentError(f"{rel} is not pinned by DVC in {ctx.project_dir.name}")
    source = cache_file(ctx.root / ".dvc" / "cache", pinned[0])
    if not source.is_file():
        raise PermanentError(f"{rel}: the pinned version {pinned[0][:12]} is not in the DVC "
                             "cache (dvc pull, or inv restore of a backup that has it)")
    if hashlib.md5(source.read_bytes(), usedforsecurity=False).hexdigest() != pinned[0]:  # noqa: S324 - DVC's
        raise PermanentError(f"{rel}: the DVC cache entry {pinned[0][:12]} is itself damaged")
    tmp = ctx.raw_data.with_suffix(ctx.raw_data.suffix + ".restoring")
    shutil.copyfile(source, tmp)
    tmp.replace(ctx.raw_data)  # atomic: a reader sees the bad file or the good one


def older_versions(ctx: ServiceContext) -> list[str]:
    """Commits before HEAD that changed the project's data pins, newest first."""
    from runner.lifecycle.data_versions import versioned_files
    from runner.operations.specedit import git

    rels = [str(p.relative_to(ctx.root)) for p in versioned_files(ctx)]
    if not rels:
        return []
    out = git(ctx.root, "log", f"-{MAX_CANDIDATES + 1}", "--format=%H", "HEAD", "--", *rels)
    head = git(ctx.root, "rev-parse", "HEAD")
    return [c for c in out.split() if c != head][:MAX_CANDIDATES]


def restore_good(ctx: ServiceContext, actor: str, steps: list[dict[str, Any]]
                 ) -> dict[str, Any] | None:
    """Try the pinned version, then older ones; the validation of the first good one."""
    from runner.lifecycle.data_versions import rollback, validate

    try:
        checkout_pinned(ctx)
        found = validate(ctx)
        steps.append({"name": "restore pinned version", "ok": True,
                      "msg": f"{found['rows']} valid rows, data version {found['data_version']}"})
        return {**found, "source": "HEAD"}
    except ToolkitError as exc:
        steps.append({"name": "restore pinned version", "ok": False, "msg": exc.one_line()})
    for commit in older_versions(ctx):
        try:
            found = rollback(ctx, commit, actor=actor)
        except ToolkitError as exc:
            steps.append({"name": f"restore {commit[:12]}", "ok": False, "msg": exc.one_line()})
            continue
        steps.append({"name": f"restore {commit[:12]}", "ok": True,
                      "msg": f"{found['rows']} valid rows; committed {found['commit'][:12]}"})
        return {**found, "source": commit}
    put_back_pins(ctx)
    return None


def put_back_pins(ctx: ServiceContext) -> None:
    """No candidate validated: the data pins go back to what HEAD says (a failed candidate
    left its lock files checked out)."""
    from runner.lifecycle.data_versions import versioned_files
    from runner.operations.specedit import git

    rels = [str(p.relative_to(ctx.root)) for p in versioned_files(ctx)]
    if rels:
        git(ctx.root, "checkout", "HEAD", "--", *rels)


def data_corruption(service: str, env_name: str = "dev", retrain: bool = False,
                    root: Path | None = None) -> dict[str, Any]:
    """Run the procedure; the report (written under ``<state>/reports/``)."""
    from runner.emergency.emergency_report import write_report
    from runner.lifecycle import data_hold
    from runner.lifecycle.data_versions import validate
    from runner.state import StateStore, actor, repo_root

    began = time.monotonic()
    ctx = service_context((root or repo_root()).resolve(), service, env_name)
    who = actor()
    steps: list[dict[str, Any]] = []
    try:
        found = validate(ctx)
        bad = ""
        steps.append({"name": "validate", "ok": True,
                      "msg": f"{found['rows']} valid rows: the data is not corrupt"})
    except ToolkitError as exc:
        bad = exc.one_line()
        steps.append({"name": "validate", "ok": False, "msg": bad})
    outcome, summary = "valid", f"{service}: current data valid, nothing restored"
    if bad:
        data_hold.hold(ctx.state, service, f"corrupt data: {bad[:200]}", actor=who)
        steps.append({"name": "hold retraining", "ok": True, "msg": "retrain play refuses"})
        good = restore_good(ctx, who, steps)
        if good is None:
            outcome = "failed"
            summary = f"{service}: no valid data version found; retraining stays on hold"
        else:
            data_hold.release(ctx.state, service)
            steps.append({"name": "lift hold", "ok": True, "msg": "data validated"})
            outcome = "restored"
            summary = (f"{service}: data restored from {str(good['source'])[:12]} "
                       f"({good['rows']} valid rows)")
    if retrain and outcome in ("restored", "valid"):
        from runner.lifecycle.retrain import retrain_command

        try:
            code = retrain_command(service, env=env_name, root=ctx.root,
                                   reason="retrain after data-corruption emergency")
            steps.append({"name": "retrain", "ok": code in (0, 4), "msg": f"exit {code}"})
        except ToolkitError as exc:
            steps.append({"name": "retrain", "ok": False, "msg": exc.one_line()})
    report = {"kind": "data-corruption", "service": service, "environment": env_name,
              "outcome": outcome, "summary": summary, "at": time.time(),
              "duration_s": round(time.monotonic() - began, 2), "steps": steps}
    report["report"] = str(write_report(ctx.state, "data-corruption", service, report))
    store = StateStore(ctx.state)
    try:
        store.audit("emergency.data-corruption", actor=who, service=service, outcome=outcome,
                    report=report["report"], summary=summary)
    finally:
        store.close()
    if outcome == "failed":
        from runner.monitor import escalation

        escalation.page(ctx.platform, ctx.state, event="emergency:data-corruption",
                        key=f"emergency-data-corruption-{service}-{int(time.time())}",
                        title="emergency data-corruption", service=service,
                        detail={"summary": summary})
    return report
