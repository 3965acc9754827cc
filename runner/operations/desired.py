"""Desired state per service, as the runtime needs it: a ReplicaSpec and a replica count.

The spec hash is the identity of a service's *runtime* configuration: every field that
changes what a replica process does, except the model version (compared on its own, so
a plan says "model version 2 -> 3" rather than "config changed"), ``replicas`` (a count
change scales, it does not replace the replicas already serving; ``scaling`` bounds it)
and the fields only monitoring and the retrain loop read (``alerts``, ``retrain``,
``gate``): changing an alert threshold re-renders rules, it does not restart a model.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from runner.runtime.base import ReplicaSpec
from runner.spec.models import Platform, ServiceSpec

NOT_RUNTIME_FIELDS = frozenset({"replicas", "scaling", "alerts", "retrain", "gate"})


def spec_hash(service: ServiceSpec) -> str:
    """Stable hash of the runtime-relevant part of one service spec."""
    data = service.model_dump(mode="json")
    relevant = {k: v for k, v in data.items() if k not in NOT_RUNTIME_FIELDS}
    # The model version is compared on its own (its own plan reason), not through the hash.
    relevant["model"] = {k: v for k, v in relevant["model"].items() if k != "version"}
    canonical = json.dumps(relevant, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def replica_spec(
    platform: Platform, name: str, *, tracking_uri: str, extra_env: dict[str, str] | None = None
) -> ReplicaSpec:
    """What one replica of service ``name`` must look like."""
    svc = platform.service(name)
    project = Path(platform.root) / svc.project
    return ReplicaSpec(
        service=name,
        spec_hash=spec_hash(svc),
        model_name=svc.model.name,
        model_version=svc.model.version,
        port=svc.port,
        project_dir=project,
        image=svc.image,
        health_path=svc.health.path,
        health_timeout_s=svc.health.timeout_s,
        health_retries=svc.health.retries,
        health_interval_s=svc.health.interval_s,
        health_start_period_s=svc.health.start_period_s,
        smoke_request=project / svc.smoke_request,
        tracking_uri=tracking_uri,
        extra_env=dict(extra_env or {}),
    )


def spec_snapshot(service: ServiceSpec) -> dict[str, Any]:
    """The whole service spec as stored with a revision (history shows what ran)."""
    return service.model_dump(mode="json")
