"""The ``backup`` playbook module: the maintenance playbook's "backup" step.

    - name: Back up before maintenance
      backup: {tags: [maintenance]}

Check mode reports where the snapshot would go and writes nothing (the key is not even
created); a real run returns the snapshot id and what it holds.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from runner.errors import ToolkitError
from runner.playbook.modules import Module, ModuleContext
from runner.playbook.result import Result


class BackupArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tags: list[str] = []
    retention: bool = True  # apply the spec's keep_daily/keep_monthly after the snapshot


class Backup(Module):
    """Snapshot the state store, MLflow, DVC data and specs into the backup repository."""

    Args = BackupArgs

    def run(self, args: BackupArgs, ctx: ModuleContext) -> Result:
        from runner.backup import settings
        from runner.backup.take import take_backup
        from runner.operations.speccache import load_platform_cached
        from runner.state import actor, state_dir, tracking_uri

        env_name = str(ctx.variables.get("environment") or "dev")
        try:
            platform = load_platform_cached(ctx.root, env_name, state_dir(ctx.root) / "cache")
            state = ctx.state_dir  # the run's state directory (MLGITOPS_STATE_DIR honoured)
            target = settings.resolve(platform.platform.backup, ctx.root)
            if ctx.check_mode:
                return Result(changed=True, msg=f"would back up to {target.repository}",
                              data={"repository": target.repository})
            result = take_backup(ctx.root, platform, state, tracking_uri(state),
                                 actor=actor(), say=lambda _m: None, tags=args.tags,
                                 retention=args.retention)
        except ToolkitError as exc:
            return Result(failed=True, msg=f"backup: {exc.one_line()}")
        return Result(changed=True, msg=result.render().splitlines()[0], data=result.as_dict())


def backup_modules() -> dict[str, type[Module]]:
    return {"backup": Backup}
