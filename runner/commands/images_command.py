"""What ``inv images-base``, ``inv build`` and ``inv push`` call (container images, issue 10).

``build`` builds each service's image from its rendered Dockerfile (one progress line
per step, a summary line per service); ``push`` sends the images the Docker runtime runs
to the registry the platform spec names, starting the local one when it is ours to run.
"""

from __future__ import annotations

import sys
from pathlib import Path

from runner.errors import PermanentError
from runner.images.build import ImageRecipe, default_ca_bundle, dockerfile_for
from runner.operations import Env, open_env


def _say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def recipes(env: Env, service: str | None = None) -> list[ImageRecipe]:
    """One image recipe per service of the platform (or just ``service``)."""
    names = sorted(env.platform.services)
    if service is not None:
        if service not in env.platform.services:
            raise PermanentError(f"no service {service!r} (services: {', '.join(names)})")
        names = [service]
    out = []
    for name in names:
        spec = env.replica_spec(name)
        out.append(ImageRecipe(
            service=name, image=spec.image, spec_hash=spec.spec_hash,
            model_name=spec.model_name, model_version=spec.model_version, root=env.root,
            dockerfile=dockerfile_for(env.root, env.environment, name),
        ))
    return out


def base_command(force: bool = False) -> int:
    """Build the local base image unless one with the same recipe exists."""
    from runner.images.base_image import ensure_base

    ensure_base(force=force, progress=_say)
    return 0


def build_command(env_name: str = "dev", service: str | None = None,
                  ca_bundle: str = "", root: Path | None = None) -> int:
    """Build the services' images; one line per service (image id, time, cached steps)."""
    from runner.images.build import build_image

    env = open_env(root, env_name, quiet=True)
    bundle = Path(ca_bundle) if ca_bundle else default_ca_bundle()
    if bundle is not None and not bundle.is_file():
        raise PermanentError(f"--ca-bundle {bundle}: no such file")
    for recipe in recipes(env, service):
        built = build_image(recipe, ca_bundle=bundle, progress=_say)
        print(f"{recipe.service}: {built.id[7:19]} {', '.join(built.tags)} "
              f"({built.seconds:.1f}s, {built.cached}/{built.steps} steps cached)")
    return 0


def push_command(env_name: str = "dev", service: str | None = None,
                 root: Path | None = None) -> int:
    """Push the images the specs name to the platform's registry (starting ours if local)."""
    from runner.images.push import push_image
    from runner.runtime.registry_daemon import ensure_registry

    env = open_env(root, env_name, quiet=True)
    registry = env.platform.platform.registry
    if registry.local:
        ensure_registry(env.state, registry.port)
    for recipe in recipes(env, service):
        for ref in push_image(recipe.runtime_ref, registry.address, progress=_say):
            print(ref)
    return 0
