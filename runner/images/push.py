"""``inv push``: a built service image into the platform's registry.

The image keeps its repository path under the registry's address
(``mlgitops/telecom:spec-ab12`` -> ``127.0.0.1:5001/mlgitops/telecom:spec-ab12``); every
tag of the build (spec hash, commit, the spec's own) is pushed, so a host pulling by
either name gets the same image.
"""

from __future__ import annotations

from collections.abc import Callable

from runner.errors import PermanentError, TemporaryError
from runner.images.build import repository
from runner.images.docker_client import client, not_found


def push_image(ref: str, registry: str, *,
               progress: Callable[[str], None] | None = None) -> list[str]:
    """Push every tag of the image ``ref`` names to ``registry`` (host:port); the refs pushed."""
    say = progress or (lambda _m: None)
    cli = client(timeout_s=600)
    try:
        image = cli.images.get(ref)
    except not_found():
        raise PermanentError(f"image {ref} is not built: run `inv build`") from None
    repo = repository(ref)
    tags = sorted({t.rpartition(":")[2] for t in image.tags if repository(t) == repo})
    target = f"{registry}/{repo}"
    pushed = []
    for tag in tags:
        cli.api.tag(image.id, target, tag)
        for item in cli.api.push(target, tag=tag, stream=True, decode=True):
            if "error" in item:
                raise TemporaryError(f"push {target}:{tag} failed: {item['error']}")
        pushed.append(f"{target}:{tag}")
        say(f"pushed {target}:{tag}")
    return pushed
