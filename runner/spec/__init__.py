"""Desired state from ``specs/``: ``load_platform(root, env)`` -> one typed ``Platform``.

Kept light (pydantic + PyYAML only) because every CLI command starts here.
"""

from runner.spec.models import (
    ModelRef,
    Platform,
    PlatformSpec,
    ServiceSpec,
)
from runner.spec.spec_loader import known_environments, load_platform

__all__ = [
    "ModelRef",
    "Platform",
    "PlatformSpec",
    "ServiceSpec",
    "known_environments",
    "load_platform",
]
