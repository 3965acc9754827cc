"""Everything one run of the service operations works with, opened once: specs, state,
runtime, registry URI.

A command opens one ``Env`` and lends it to the playbooks it runs
(``run_playbook(..., resources={ENV: env})``); a module run standalone opens its own
(``runner.operations.service_modules``). Nothing here is global.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from runner.operations.desired import replica_spec
from runner.runtime import Runtime, get_runtime
from runner.runtime.base import ReplicaSpec
from runner.spec.models import Platform
from runner.state import StateStore, actor, repo_root, state_dir, tracking_uri


def _print(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


@dataclass
class Env:
    root: Path
    environment: str
    platform: Platform
    state: Path
    store: StateStore
    runtime: Runtime
    tracking_uri: str
    actor: str
    say: object = field(default=_print)  # progress callback: str -> None
    quiet: bool = False

    def progress(self, msg: str) -> None:
        if callable(self.say):
            self.say(msg)

    def replica_spec(self, name: str) -> ReplicaSpec:
        return replica_spec(self.platform, name, tracking_uri=self.tracking_uri)

    def reload(self) -> None:
        """Read the specs again (after a rollback edited one)."""
        from runner.spec import load_platform

        self.platform = load_platform(self.root, self.environment)

    def spec_file(self, name: str) -> Path:
        return self.root / "specs" / "services" / f"{name}.yaml"


def compose_source(root: Path, environment: str) -> Callable[[], str]:
    """The compose file the specs on disk render to when called (after a rollback edited
    a spec, too): what the Swarm runtime deploys. Rendering sits above the runtimes."""
    def compose() -> str:
        from runner.render import render_all
        from runner.spec import load_platform

        return render_all(load_platform(root, environment))["compose.yaml"]

    return compose


def open_env(root: Path | None = None, environment: str = "dev", quiet: bool = False) -> Env:
    """Load and validate the specs (raises SpecError before anything is touched)."""
    from runner.operations.speccache import load_platform_cached

    root = (root or repo_root()).resolve()
    platform = load_platform_cached(root, environment, state_dir(root) / "cache")
    state = state_dir(root, platform.platform.state_dir)
    return Env(
        root=root,
        environment=environment,
        platform=platform,
        state=state,
        store=StateStore(state),
        runtime=get_runtime(platform.platform.runtime, state=state, root=root,
                            environment=environment, compose=compose_source(root, environment)),
        tracking_uri=tracking_uri(state),
        actor=actor(),
        say=(lambda _m: None) if quiet else _print,
        quiet=quiet,
    )

