"""``inv render [--env dev] [--check]``: validate, render, then write or compare.

Specs are validated first; a ``SpecError`` propagates (one line per problem, exit 1) before
anything is written. A render reuses the files of services whose inputs did not change
(``incremental``) and rewrites only files whose text changed (``files``, the one writer of
``generated/``). ``--check`` writes nothing, renders everything afresh, and fails with a
unified diff when ``generated/`` differs from that render or holds files no spec produces.
"""

from __future__ import annotations

import sys
from pathlib import Path

from runner.gc_pause import gc_paused
from runner.locations import cache_dir, repo_root
from runner.render.artifacts import render_all
from runner.render.generated_files import CheckResult, check, check_dir, env_dir, scan, write_dir
from runner.render.incremental import (
    Manifest,
    RenderPlan,
    apply_render,
    code_key,
    inputs_key,
    plan_render,
    service_keys,
)
from runner.render.template_env import cache_bytecode
from runner.render.workflows import (
    WORKFLOW_ENV,
    WORKFLOWS_DIR,
    render_workflow_parts,
    render_workflows,
)
from runner.spec.models import Platform
from runner.spec.schema import schema_files
from runner.spec.spec_loader import known_environments, load_platform

SCHEMA_DIR = "generated/schema"


def _schema_files(root: Path) -> dict[str, str]:
    """Schema files keyed relative to generated/schema (their owner keys them from the root)."""
    prefix = SCHEMA_DIR + "/"
    return {rel.removeprefix(prefix): text for rel, text in schema_files(root).items()}


def _stray_environments(root: Path) -> CheckResult:
    """generated/<dir> for an environment that no longer exists in specs/environments/."""
    generated = root / "generated"
    known = set(known_environments(root)) | {"schema"}
    stray = (
        sorted(
            p.relative_to(root).as_posix()
            for p in generated.glob("*")
            if p.is_dir() and p.name not in known
        )
        if generated.is_dir()
        else []
    )
    return CheckResult(extra=[f"{path}/" for path in stray])


def workflow_files(root: Path, env: str, platform: Platform) -> dict[str, str]:
    """The CI workflows: from the base environment's specs whatever ``env`` is rendered."""
    base = platform if env == WORKFLOW_ENV else load_platform(root, WORKFLOW_ENV)
    return render_workflows(base)


def plan_workflows(root: Path, env: str, platform: Platform, cache: Path | None,
                   keys: dict[str, str] | None = None) -> RenderPlan:
    """Like ``plan_env`` for ``.github/workflows/``: a service's retrain workflow is rendered
    again only when its inputs changed (1,000 of them took 30 ms to render and compare).
    ``keys``: the services' keys of ``platform``, used when it is the workflows' base."""
    same = env == WORKFLOW_ENV
    base = platform if same else load_platform(root, WORKFLOW_ENV, cache_dir=cache)
    manifest = cache / "render-workflows.json" if cache is not None else None
    return plan_render(base, root / WORKFLOWS_DIR, manifest, render=render_workflow_parts,
                       keys=keys if same else None)


def plan_env(root: Path, env: str, *, with_old: bool = False,
             cache: Path | None = None, platform: Platform | None = None,
             keys: dict[str, str] | None = None) -> RenderPlan:
    """Validate and work out what bringing ``generated/<env>/`` up to date takes (for
    ``inv render`` and the playbook ``render`` module; ``apply_render`` makes it so).
    ``cache``: the cache directory (default: the state directory's); ``platform``: the
    specs when the caller loaded them already (loading 1,000 specs is most of a render)."""
    cache = cache or cache_dir(root)
    if platform is None:
        platform = load_platform(root, env, cache_dir=cache)
    if cache is None:
        return plan_render(platform, env_dir(root, env), None, with_old=with_old, keys=keys)
    cache_bytecode(cache)
    return plan_render(platform, env_dir(root, env), cache / f"render-{env}.json",
                       with_old=with_old, keys=keys)


def write_schemas(root: Path, cache: Path | None = None) -> list[str]:
    """``generated/schema/`` through the one writer; returns the files changed. With
    ``cache``, skipped while the spec models' code and the files on disk are as last written
    (generating the schemas costs about 30 ms)."""
    directory = root / SCHEMA_DIR
    if cache is None:
        return write_dir(directory, _schema_files(root))
    key = code_key(Path(schema_files.__code__.co_filename).parent)
    manifest_path = cache / "render-schema.json"
    manifest = Manifest.load(manifest_path, directory)
    on_disk = scan(directory)
    known = manifest.fresh("schema", key, on_disk)
    if known is not None and set(known) == set(on_disk):
        return []
    changed = write_dir(directory, _schema_files(root))
    Manifest(str(directory), {"schema": (key, scan(directory))}).save(manifest_path)
    return changed


def check_generated(root: Path, env: str) -> CheckResult:
    """Fresh render of ``env`` (and the schemas) compared with what is on disk."""
    platform = load_platform(root, env, cache_dir=cache_dir(root))
    result = check(root, env, render_all(platform))
    result = result.merge(check_dir(root, root / SCHEMA_DIR, _schema_files(root)))
    result = result.merge(check_dir(root, root / WORKFLOWS_DIR,
                                    workflow_files(root, env, platform)))
    return result.merge(_stray_environments(root))


def render_command(env: str = "dev", check_only: bool = False, root: Path | None = None) -> int:
    """Render (or with ``check_only`` compare) generated/<env>/; returns the exit code."""
    # The specs, the views and the rendered text all stay alive until the command ends:
    # paused for the whole command, not only inside the loader (whose re-enabled GC then
    # walked the 1,000 loaded specs once, 10-15 ms of a 0.4 s re-render, freeing nothing).
    with gc_paused():
        return _render_or_check(env, check_only, Path(root or repo_root()).resolve())


def _render_or_check(env: str, check_only: bool, root: Path) -> int:
    if check_only:
        result = check_generated(root, env)
        if result.ok:
            print(f"ok: generated/{env}, {SCHEMA_DIR} and {WORKFLOWS_DIR} are up to date")
            return 0
        sys.stdout.write(result.diff)
        print(result.summary(), file=sys.stderr)
        print(f"generated/ is stale: run `inv render --env {env}` and commit", file=sys.stderr)
        return 1
    cache = cache_dir(root)
    platform = load_platform(root, env, cache_dir=cache)  # once, for both outputs
    keys = service_keys(platform, inputs_key())  # for both directories
    plan = plan_env(root, env, cache=cache, platform=platform, keys=keys)  # renders, no writes
    changes = apply_render(plan)
    changed_schemas = write_schemas(root, cache)
    changed_workflows = apply_render(plan_workflows(root, env, platform, cache, keys))
    print(
        f"rendered {plan.files} files to generated/{env}: {len(changes)} changed"
        + (f", {len(changed_schemas)} schema files updated" if changed_schemas else "")
        + (f", {len(changed_workflows)} workflow files in {WORKFLOWS_DIR} updated"
           if changed_workflows else "")
    )
    return 0
