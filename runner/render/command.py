"""``inv render [--env dev] [--check]``: validate, render, then write or compare.

Specs are validated first; a ``SpecError`` propagates (one line per problem, exit 1) before
anything is written. ``--check`` writes nothing and fails with a unified diff when
``generated/`` differs from a fresh render or holds files no spec produces.
"""

from __future__ import annotations

import sys
from pathlib import Path

from runner.locations import repo_root
from runner.render.artifacts import render_all
from runner.render.files import CheckResult, check, check_dir, write
from runner.spec.loader import known_environments, load_platform
from runner.spec.schema import schema_files, write_schemas

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


def check_generated(root: Path, env: str) -> CheckResult:
    """Fresh render of ``env`` (and the schemas) compared with what is on disk."""
    platform = load_platform(root, env)
    result = check(root, env, render_all(platform))
    result = result.merge(check_dir(root, root / SCHEMA_DIR, _schema_files(root)))
    return result.merge(_stray_environments(root))


def render_command(env: str = "dev", check_only: bool = False, root: Path | None = None) -> int:
    """Render (or with ``check_only`` compare) generated/<env>/; returns the exit code."""
    root = Path(root or repo_root()).resolve()
    if check_only:
        result = check_generated(root, env)
        if result.ok:
            print(f"ok: generated/{env} and {SCHEMA_DIR} are up to date")
            return 0
        sys.stdout.write(result.diff)
        print(result.summary(), file=sys.stderr)
        print(f"generated/ is stale: run `inv render --env {env}` and commit", file=sys.stderr)
        return 1
    platform = load_platform(root, env)
    files = render_all(platform)  # render everything before writing anything
    changed = write(root, env, files)
    changed_schemas = write_schemas(root)
    print(
        f"rendered {len(files)} files to generated/{env}: {len(changed)} changed"
        + (f", {len(changed_schemas)} schema files updated" if changed_schemas else "")
    )
    return 0
