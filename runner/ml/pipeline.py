"""``inv train``: run each project's DVC pipeline and make sure its model is in the registry.

``dvc repro`` alone is not enough after the state dir was wiped (or on a new
``MLGITOPS_STATE_DIR``): DVC sees every output up to date and skips ``register``, yet the
registry is empty. So after the repro we look the trained model up by its hash and, if
it is missing, re-run only the ``register`` stage. Registration is idempotent, so this
never adds a duplicate version.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from runner.errors import NotInstalled, PermanentError
from runner.ml.project import project_dirs

REGISTERED = Path("models") / "registered.json"


def dvc_executable() -> str:
    """The dvc next to this interpreter (the project venv), else the one on PATH."""
    beside = Path(sys.executable).parent / "dvc"
    if beside.is_file():
        return str(beside)
    found = shutil.which("dvc")
    if found is None:
        raise NotInstalled("dvc is not installed (pip install dvc)")
    return found


def stage_env() -> dict[str, str]:
    """Environment for stage commands: this venv's python first on PATH, one OpenMP thread.

    One thread makes training byte-reproducible across machines with different core
    counts (HistGradientBoosting's float sums depend on the split across threads), so a
    fresh clone reproduces the hashes in dvc.lock.
    """
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env.setdefault("OMP_NUM_THREADS", "1")
    env.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    return env


def projects(root: Path, service: str | None = None) -> list[str]:
    """Projects that have a pipeline, or just ``service`` (checked)."""
    found = [p.name for p in project_dirs(root) if (p / "dvc.yaml").is_file()]
    if service is None:
        return found
    if service not in found:
        raise PermanentError(f"no pipeline for {service!r}; known: {', '.join(found)}",
                             field="--service")
    return [service]


def repro(root: Path, project: str, *, stage: str | None = None, force: bool = False,
          capture: bool = False) -> str:
    """``dvc repro`` of one project (or one stage of it); returns the output if captured."""
    target = f"projects/{project}/dvc.yaml"
    argv = [dvc_executable(), "repro"]
    if stage:
        argv += ["--single-item", f"{target}:{stage}"]
    else:
        argv.append(target)
    if force:
        argv.insert(2, "--force")
    result = subprocess.run(argv, cwd=root, env=stage_env(), check=False, text=True,
                            capture_output=capture)
    if result.returncode != 0:
        tail = (result.stderr or result.stdout or "").strip().splitlines()[-1:] if capture else []
        detail = f": {tail[0]}" if tail else ""
        raise PermanentError(f"dvc repro {stage or ''} failed for {project} "
                             f"(exit {result.returncode}){detail}".replace("  ", " "))
    return (result.stdout or "") if capture else ""


def registered(root: Path, project: str) -> dict[str, Any] | None:
    """The project's models/registered.json, if the register stage has run."""
    path = root / "projects" / project / REGISTERED
    if not path.is_file():
        return None
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def in_registry(root: Path, record: dict[str, Any]) -> int | None:
    """The registry version holding the model of ``record``, or None."""
    from runner.ml import registry

    found = registry.find_version(registry.client(root), record["model_name"],
                                  record["model_sha256"])
    return int(found.version) if found is not None else None


def train(root: Path, service: str | None = None, *, capture: bool = False) -> list[str]:
    """Reproduce each project's pipeline; register its model if the registry lacks it."""
    lines = []
    for project in projects(root, service):
        repro(root, project, capture=capture)
        record = registered(root, project)
        version = in_registry(root, record) if record else None
        if record is None or version is None:
            repro(root, project, stage="register", force=True, capture=capture)
            record = registered(root, project)
            version = in_registry(root, record) if record else None
        if record is None or version is None:
            raise PermanentError(f"{project}: the register stage ran but the model is not in "
                                 "the registry")
        lines.append(f"{project}: {record['model_name']} version {version} "
                     f"(data {record['data_version'][:12]})")
    return lines


def train_command(root: Path | None = None, service: str | None = None) -> None:
    """``inv train [--service S]``: print one line per project."""
    from runner.state.paths import repo_root

    for line in train(root or repo_root(), service):
        print(line)
