"""Clean-up by retention: what may be deleted, decided once, then deleted exactly.

``candidates`` lists what is older than ``maintenance.retention_days`` and referenced by
nothing that must survive: MLflow runs no registered model version came from, reports,
logs of replicas that no longer run, playbook and procedure logs, and the records of
parked replicas whose process is gone. Check mode prints that list; a real run deletes
that same list (``delete``) and nothing else.

Never deleted: a run any registered model version came from (every version, so every
alias and every version a spec pins), any file under a version's artifact location,
logs of live or parked replicas and of the last ``keep_revisions`` revisions of each
service. Old backups are left to the backup tool's own retention (``restic forget``).
"""

from __future__ import annotations

import re
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runner.errors import PermanentError

if TYPE_CHECKING:
    from runner.operations import Env

DAY_S = 86400.0
# <service>-v<version>-<spec hash[:8]>-<suffix>.log (runner.runtime.local.start)
REPLICA_LOG = re.compile(r"^(?P<svc>[a-z][a-z0-9-]*)-v(?P<ver>\d+)-(?P<hash>[0-9a-f]{8})-")


@dataclass(frozen=True)
class Candidate:
    kind: str  # mlflow-run | report | replica-log | run-log | procedure-log | standby-record
    target: str  # a path, or an MLflow run id
    why: str
    size: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def line(self) -> str:
        return f"{self.kind:<15} {self.target}  ({self.why})"


@dataclass(frozen=True)
class Protected:
    """What clean-up must never touch, gathered before anything is listed."""

    run_ids: frozenset[str]
    artifact_dirs: tuple[Path, ...]
    revisions: frozenset[tuple[str, int, str]]  # (service, model version, spec hash[:8])
    live_replicas: frozenset[str]


def _size(path: Path) -> int:
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size if path.exists() else 0


def _old_files(folder: Path, cutoff: float, pattern: str = "*") -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.glob(pattern) if p.is_file() and p.stat().st_mtime < cutoff)


def _local_path(uri: str) -> Path | None:
    if uri.startswith("file://"):
        return Path(uri.removeprefix("file://"))
    return Path(uri) if uri.startswith("/") else None


def protected(env: Env, *, registry: Any | None = None) -> Protected:
    """Runs and artifacts of registered versions, recent revisions, live replicas."""
    run_ids: set[str] = set()
    dirs: list[Path] = []
    for version in registry_versions(registry):
        if version.run_id:
            run_ids.add(version.run_id)
        for uri in version_locations(registry, version):
            path = _local_path(uri)
            if path is not None:
                dirs.append(path.resolve())
    keep = env.platform.platform.maintenance.keep_revisions
    revisions: set[tuple[str, int, str]] = set()
    for service in set(env.store.services()) | set(env.platform.services):
        for rev in env.store.revisions(service)[-keep:]:
            revisions.add((service, rev.model_version, rev.spec_hash[:8]))
    live: set[str] = set()
    for service, facts in env.runtime.facts(check_health=False).items():
        live.update(f.replica for f in facts if f.running)
        live.update(f.replica for f in env.runtime.standby(service) if f.running)
    for service in env.platform.services:
        live.update(f.replica for f in env.runtime.standby(service) if f.running)
    return Protected(frozenset(run_ids), tuple(dirs), frozenset(revisions), frozenset(live))


def registry_versions(client: Any | None) -> list[Any]:
    """Every version of every registered model (paged)."""
    if client is None:
        return []
    out: list[Any] = []
    token = None
    while True:
        page = client.search_model_versions(max_results=1000, page_token=token)
        out.extend(page)
        token = getattr(page, "token", None)
        if not token:
            return out


def version_locations(client: Any, version: Any) -> list[str]:
    """Where a version's files live: its source and, for MLflow 3 logged models, the
    logged model's artifact location."""
    out = [str(version.source or "")]
    model_id = getattr(version, "model_id", None)
    if model_id:
        try:
            out.append(str(client.get_logged_model(model_id).artifact_location))
        except Exception:  # noqa: BLE001, S110 - an unknown model id protects nothing more
            pass
    return [u for u in out if u]


def _inside(path: Path, other: Path) -> bool:
    return path == other or other in path.parents or path in other.parents


def mlflow_candidates(client: Any, keep: Protected, cutoff: float) -> list[Candidate]:
    from mlflow.entities import ViewType

    out: list[Candidate] = []
    experiments = client.search_experiments(view_type=ViewType.ACTIVE_ONLY)
    ids = [e.experiment_id for e in experiments]
    if not ids:
        return out
    token = None
    while True:
        runs = client.search_runs(ids, run_view_type=ViewType.ACTIVE_ONLY, max_results=1000,
                                  page_token=token)
        for run in runs:
            info = run.info
            if info.run_id in keep.run_ids or info.status == "RUNNING":
                continue
            ended = (info.end_time or info.start_time or 0) / 1000.0
            if ended >= cutoff:
                continue
            art = _local_path(info.artifact_uri or "")
            if art is not None and any(_inside(art.resolve(), d) for d in keep.artifact_dirs):
                continue  # shares files with a registered version: never
            age = (time.time() - ended) / DAY_S
            out.append(Candidate("mlflow-run", info.run_id,
                                 f"no registered version, ended {age:.0f} days ago",
                                 _size(art) if art is not None else 0))
        token = runs.token
        if not token:
            return out


def candidates(env: Env, *, now: float | None = None, registry: Any | None = None
               ) -> list[Candidate]:
    """Everything clean-up would delete now, each with why; nothing protected."""
    now = time.time() if now is None else now
    days = env.platform.platform.maintenance.retention_days
    cutoff = now - days * DAY_S
    keep = protected(env, registry=registry)
    out: list[Candidate] = []
    if registry is not None:
        out += mlflow_candidates(registry, keep, cutoff)
    older = f"older than {days} days"
    for path in _old_files(env.state / "reports", cutoff, "**/*"):
        out.append(Candidate("report", str(path), older, _size(path)))
    for path in _old_files(env.state / "runs", cutoff, "**/*"):
        out.append(Candidate("run-log", str(path), older, _size(path)))
    for path in _old_files(env.state / "run" / "procedures", cutoff, "**/*"):
        out.append(Candidate("procedure-log", str(path), older, _size(path)))
    for path in _old_files(env.state / "run" / "services", cutoff, "*/*.log"):
        match = REPLICA_LOG.match(path.name)
        replica = path.name.removesuffix(".log")
        if replica in keep.live_replicas or not match:
            continue
        if (match["svc"], int(match["ver"]), match["hash"]) in keep.revisions:
            continue
        out.append(Candidate("replica-log", str(path), f"replica gone, {older}", _size(path)))
    for service in sorted(set(env.platform.services) | set(env.store.services())):
        for fact in env.runtime.standby(service):
            if not fact.running:
                folder = env.state / "run" / "services" / service / "standby"
                record = folder / f"{fact.replica}.json"
                out.append(Candidate("standby-record", str(record),
                                     f"parked replica {fact.replica} (pid {fact.pid}) has exited"))
    return out


def delete(env: Env, found: list[Candidate], *, registry: Any | None = None) -> list[str]:
    """Delete exactly ``found`` (from ``candidates``); returns one line per deletion."""
    done: list[str] = []
    runs = [c.target for c in found if c.kind == "mlflow-run"]
    if runs:
        assert registry is not None
        keep = protected(env, registry=registry)  # re-checked: a version may be new since
        if set(runs) & keep.run_ids:
            raise PermanentError(f"refusing to delete runs now referenced by a registered "
                                 f"version: {sorted(set(runs) & keep.run_ids)}")
        folders = [_local_path(registry.get_run(r).info.artifact_uri or "") for r in runs]
        for run_id in runs:
            registry.delete_run(run_id)
        _gc(env.tracking_uri, runs)
        for run_id, art in zip(runs, folders, strict=True):
            # gc removes <root>/<run id>/artifacts; the run's own folder stays, empty.
            if art is not None and art.parent.name == run_id and art.parent.is_dir() \
                    and not any(art.parent.iterdir()):
                art.parent.rmdir()
        done += [f"deleted MLflow run {r} and its artifacts" for r in runs]
    by_replica = {f.replica: f for s in env.platform.services for f in env.runtime.standby(s)}
    for cand in found:
        path = Path(cand.target)
        if cand.kind == "standby-record":
            fact = by_replica.get(path.stem)
            if fact is not None and not fact.running:
                env.runtime.forget(fact)
                done.append(f"forgot exited standby {path.stem}")
        elif cand.kind != "mlflow-run" and path.is_file():
            path.unlink()
            done.append(f"deleted {cand.kind} {path}")
    for folder in (env.state / "reports", env.state / "runs"):
        _prune_empty_dirs(folder)
    return done


def _prune_empty_dirs(folder: Path) -> None:
    if not folder.is_dir():
        return
    for sub in sorted((p for p in folder.rglob("*") if p.is_dir()), reverse=True):
        if not any(sub.iterdir()):
            shutil.rmtree(sub, ignore_errors=True)


def _gc(tracking_uri: str, run_ids: list[str]) -> None:
    """Permanently delete exactly these (already deleted) runs: rows and artifact folders.

    ``mlflow gc`` would also purge every experiment and logged model anyone marked
    deleted; its worker with skip flags purges only the runs named (private API of the
    pinned mlflow 3.17.2, checked by tests/unit/test_maintenance_cleanup.py)."""
    from mlflow.cli import _gc_tracking_resources
    from mlflow.tracking._tracking_service.utils import _get_store

    _gc_tracking_resources(_get_store(tracking_uri), run_ids=run_ids, experiment_ids=None,
                           logged_model_ids=[], older_than=None, time_delta=0,
                           skip_experiments=True, skip_logged_models=True)
