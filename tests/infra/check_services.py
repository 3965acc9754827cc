"""Every service in the specs: its replicas all there, the registry agreeing with the pin."""

from __future__ import annotations

from typing import Any


def test_replicas(service: Any, targets: Any) -> None:
    running = [r for r in targets.replicas if r.service == service.service and r.running]
    known = [r for r in targets.replicas if r.service == service.service]
    dead = [r.replica for r in known if not r.running]
    assert len(running) == service.replicas and not dead, (
        f"{len(running)}/{service.replicas} replicas running"
        + (f"; not running: {', '.join(dead)} (killed outside the toolkit?)" if dead else "")
    )


def test_registry_alias(service: Any, targets: Any) -> None:
    """The registry's ``production`` alias points at the pinned version (moved only by
    deploys and rollbacks; a hand-moved alias means the registry and git disagree)."""
    from runner.operations.registry_facts import alias_version

    got = alias_version(targets.tracking_uri, service.model_name, "production")
    assert got == service.pinned_version, (
        f"{service.model_name}@production is v{got}, the spec pins v{service.pinned_version}"
    )
