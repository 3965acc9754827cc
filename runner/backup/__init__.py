"""Backups of the platform with restic: ``inv backup``, ``inv restore``, the ``backup``
playbook module (the maintenance playbook's backup step) and the monitor's schedule.

Public API::

    take_backup(root, platform, state, tracking_uri, actor=...)   # -> BackupResult
    list_snapshots(root, platform)                                 # -> [Snapshot]
    restore_snapshot(root, platform, state, "latest", check_only=True)

Layering: below ``runner.playbook_catalog`` (which lists ``Backup``); the restore command
reconciles afterwards, so this package may import ``runner.reconcile`` (inside functions).
"""

from runner.backup.module import Backup, backup_modules
from runner.backup.restore import RestoreResult, SnapshotRefused, restore_snapshot
from runner.backup.take import BackupResult, list_snapshots, take_backup

__all__ = [
    "Backup",
    "BackupResult",
    "RestoreResult",
    "SnapshotRefused",
    "backup_modules",
    "list_snapshots",
    "restore_snapshot",
    "take_backup",
]
