"""Data versions: the runbook's data-integrity check and DVC data rollback.

A project's data version is what its ``dvc.lock`` (and any ``*.dvc`` file in the project)
records; git keeps those small files, DVC's cache the data. Rolling the data back is
``git checkout REV -- <those files>`` then ``dvc checkout``, the result validated against
the schema before anything trains on it, and the lock files committed so the rollback is
itself a recorded change. ``--retrain`` then runs the retrain play on the restored data.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from runner.errors import PermanentError
from runner.lifecycle.common import ServiceContext, service_context


def validate(ctx: ServiceContext, path: Path | None = None) -> dict[str, Any]:
    """Validate the project's raw data (or ``path``); DataValidationError names the column."""
    from runner.ml.data_validation import validate_csv
    from runner.ml.registry import file_md5

    target = path or ctx.raw_data
    frame = validate_csv(target, ctx.schema)
    return {"path": str(target), "rows": len(frame), "data_version": file_md5(target),
            "columns": len(ctx.schema.features) + 1}


def validate_command(service: str, data: str = "", env: str = "dev",
                     root: Path | None = None) -> int:
    """``inv data-validate``: exit 0 with a summary, 1 with every bad column named."""
    from runner.state.paths import repo_root

    ctx = service_context((root or repo_root()).resolve(), service, env)
    out = validate(ctx, Path(data) if data else None)
    print(f"{service}: {out['path']} valid: {out['rows']} rows x {out['columns']} columns, "
          f"data version {out['data_version']}")
    return 0


def versioned_files(ctx: ServiceContext) -> list[Path]:
    """The git-tracked files that pin the project's data: dvc.lock, params, *.dvc."""
    found = [ctx.project_dir / "dvc.lock", ctx.project_dir / "params.yaml"]
    found += sorted(ctx.project_dir.rglob("*.dvc"))
    return [p for p in found if p.exists()]


def rollback(ctx: ServiceContext, rev: str, *, actor: str) -> dict[str, Any]:
    """Restore the data pinned at git revision ``rev``, validate it, commit the lock files."""
    from runner.ml.pipeline import dvc_executable, stage_env
    from runner.operations.specedit import git
    from runner.state import StateStore

    rels = [str(p.relative_to(ctx.root)) for p in versioned_files(ctx)]
    if not rels:
        raise PermanentError(f"{ctx.name}: no dvc.lock or .dvc file to roll back")
    commit = git(ctx.root, "rev-parse", "--verify", f"{rev}^{{commit}}")
    known = [r for r in rels if git(ctx.root, "ls-tree", "--name-only", commit, "--", r)]
    if not known:
        raise PermanentError(f"{rev} has none of {', '.join(rels)}", field="--to")
    git(ctx.root, "checkout", commit, "--", *known)
    targets = [str(p.relative_to(ctx.root)) for p in
               [ctx.project_dir / "dvc.yaml", *sorted(ctx.project_dir.rglob("*.dvc"))]
               if p.is_file()]
    proc = subprocess.run([dvc_executable(), "checkout", *targets], cwd=ctx.root,
                          env=stage_env(), capture_output=True, text=True, check=False,
                          timeout=300)
    if proc.returncode != 0:
        last = ((proc.stderr or proc.stdout).strip().splitlines() or ["failed"])[-1]
        raise PermanentError(f"dvc checkout after restoring {rev[:12]}: {last[:200]} "
                             "(dvc pull may fetch the data first)")
    out = validate(ctx)
    changed = git(ctx.root, "status", "--porcelain", "--", *known)
    new_commit = ""
    if changed:
        git(ctx.root, "commit", "-q", "-m",
            f"data rollback {ctx.name} to {rev} ({commit[:12]}): data {out['data_version'][:12]}",
            "--", *known)
        new_commit = git(ctx.root, "rev-parse", "HEAD")
    store = StateStore(ctx.state)
    try:
        store.audit("data-rollback", actor=actor, service=ctx.name, outcome="ok", to=rev,
                    source_commit=commit, commit=new_commit, files=known,
                    data_version=out["data_version"], rows=out["rows"])
    finally:
        store.close()
    return {**out, "files": known, "source_commit": commit, "commit": new_commit}


def rollback_command(service: str, to: str, retrain: bool = False, env: str = "dev",
                     root: Path | None = None) -> int:
    """``inv data-rollback --service S --to REV [--retrain]``."""
    from runner.state import actor
    from runner.state.paths import repo_root

    ctx = service_context((root or repo_root()).resolve(), service, env)
    out = rollback(ctx, to, actor=actor())
    print(f"{service}: data restored from {to} ({out['source_commit'][:12]}): "
          f"{', '.join(out['files'])}; {out['rows']} valid rows, data version "
          f"{out['data_version']}" + (f"; committed {out['commit'][:12]}" if out["commit"]
                                      else "; already at that version"))
    if not retrain:
        return 0
    from runner.lifecycle.retrain import retrain_command

    return retrain_command(service, env=env, root=ctx.root,
                           reason=f"retrain after data rollback to {to}")
