"""What ``inv backup [--list]`` and ``inv restore SNAPSHOT|latest [--check]`` call.

Restore never opens the state store before the swap: a connection opened on the file
about to be moved aside would keep writing into the replaced copy.
"""

from __future__ import annotations

import json
from pathlib import Path

from runner.backup.restore import restore_snapshot
from runner.backup.take import list_snapshots, take_backup
from runner.spec.models import Platform


def _platform(root: Path | None, env_name: str) -> tuple[Path, Platform, Path]:
    from runner.operations.speccache import load_platform_cached
    from runner.state import repo_root, state_dir

    root = (root or repo_root()).resolve()
    platform = load_platform_cached(root, env_name, state_dir(root) / "cache")
    return root, platform, state_dir(root, platform.platform.state_dir)


def backup_command(env_name: str = "dev", list_only: bool = False, as_json: bool = False,
                   root: Path | None = None) -> int:
    """Take a snapshot (or list them); one line per snapshot with ``--list``."""
    from runner.state import actor, tracking_uri

    root, platform, state = _platform(root, env_name)
    if list_only:
        snaps = list_snapshots(root, platform)
        if as_json:
            print(json.dumps([s.as_dict() for s in snaps], indent=2))
        elif not snaps:
            print("no backups yet (inv backup)")
        for snap in [] if as_json else snaps:
            print(f"{snap.short_id}  {snap.time[:19].replace('T', ' ')} UTC  "
                  f"{' '.join(t for t in snap.tags if t != 'mlgitops')}")
        return 0
    result = take_backup(root, platform, state, tracking_uri(state), actor=actor())
    print(json.dumps(result.as_dict(), indent=2) if as_json else result.render())
    return 0


def running_parts(root: Path, platform: Platform, state: Path) -> list[str]:
    """Replicas and platform daemons this state directory runs (a restore refuses them)."""
    from runner.runtime import get_runtime
    from runner.runtime.process import alive

    runtime = get_runtime(platform.platform.runtime, state=state, root=root)
    names = [f.replica for facts in runtime.facts(None, check_health=False).values()
             for f in facts if f.running]
    for svc in platform.services:
        names += [f.replica for f in runtime.standby(svc) if f.running]
    for record in sorted((state / "run").glob("*.json")):
        try:
            rec = json.loads(record.read_text())
        except (OSError, ValueError):
            continue
        if isinstance(rec, dict) and alive(rec.get("pid"), rec.get("start")):
            names.append(record.stem)
    return names


def restore_command(snapshot: str = "latest", env_name: str = "dev", check: bool = False,
                    reconcile: bool = True, read_data_subset: str = "100%",
                    root: Path | None = None) -> int:
    """Verify, restore (atomically, after every check passed), audit, reconcile."""
    from runner.state import StateStore, actor

    root, platform, state = _platform(root, env_name)
    running = [] if check else running_parts(root, platform, state)
    result = restore_snapshot(root, platform, state, snapshot, check_only=check,
                              read_data_subset=read_data_subset, running=running)
    print(result.render())
    if check:
        return 0
    store = StateStore(state)  # the restored store: the restore is in its own history
    try:
        store.audit("restore", actor=actor(), outcome="ok", snapshot=result.snapshot,
                    swapped=result.swapped, moved_aside=result.moved_aside,
                    backup_commit=result.git_commit, data_restored=result.data_restored)
    finally:
        store.close()
    if not reconcile:
        print("not reconciled (--no-reconcile): inv up or inv reconcile starts the services")
        return 0
    from runner.operations import open_env
    from runner.reconcile import apply

    env = open_env(root, env_name)
    outcome = apply(env, watch_s=0)
    print(outcome.render())
    return 0 if outcome.ok else 1
