"""``python -m runner.backup [--env dev] [--tag T]``: the monitor's scheduled backup."""

from __future__ import annotations

import argparse
import sys

from runner.errors import ToolkitError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m runner.backup")
    parser.add_argument("--env", default="dev")
    parser.add_argument("--tag", action="append", default=[])
    args = parser.parse_args(argv)
    from runner.backup.take import take_backup
    from runner.operations.speccache import load_platform_cached
    from runner.state import actor, repo_root, state_dir, tracking_uri

    try:
        root = repo_root()
        platform = load_platform_cached(root, args.env, state_dir(root) / "cache")
        state = state_dir(root, platform.platform.state_dir)
        result = take_backup(root, platform, state, tracking_uri(state), actor=actor(),
                             tags=args.tag)
    except ToolkitError as exc:
        print(exc.one_line(), file=sys.stderr)
        from runner.monitor.procedure import page_failure  # a failed backup reaches people

        page_failure("backup", {}, exc.one_line(), args.env)
        return exc.exit_code
    print(result.render())
    return 0


if __name__ == "__main__":
    sys.exit(main())
