"""``inv images base``: the local base image every service image starts FROM.

No public image registry is reachable here, so the base is made from Debian's own
packages: ``debootstrap --variant=minbase`` of bookworm with Python and what testinfra's
docker backend needs (``procps`` for processes, ``iproute2`` for sockets), then imported
with ``docker import``. The recipe (suite, variant, packages) is hashed into a label: an
image with the same label is reused, so CI builds it once per machine, not once per run.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from runner.errors import NotInstalled, ToolkitError
from runner.images.docker_client import MANAGED, client, label, not_found

BASE_IMAGE = "mlgitops/python-base:bookworm"
RECIPE_LABEL = label("recipe")
MIRROR = "http://deb.debian.org/debian"
RECIPE_VERSION = 1  # bump when the steps below change in a way the fields do not show


@dataclass(frozen=True)
class BaseRecipe:
    """What the base image is made of; its hash names the result."""

    suite: str = "bookworm"
    variant: str = "minbase"
    packages: tuple[str, ...] = ("python3", "python3-venv", "ca-certificates", "procps",
                                 "iproute2")

    @property
    def hash(self) -> str:
        data = {"suite": self.suite, "variant": self.variant,
                "packages": sorted(self.packages), "version": RECIPE_VERSION}
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


def current_recipe(image: str = BASE_IMAGE) -> str | None:
    """The recipe hash the local ``image`` was built from; None when there is no such image."""
    try:
        found = client().images.get(image)
    except not_found():
        return None
    return str((found.labels or {}).get(RECIPE_LABEL) or "") or None


def ensure_base(
    image: str = BASE_IMAGE,
    recipe: BaseRecipe | None = None,
    *,
    mirror: str = MIRROR,
    force: bool = False,
    progress: Callable[[str], None] | None = None,
) -> bool:
    """Build ``image`` unless one with the same recipe hash exists; True when built."""
    say = progress or (lambda _m: None)
    recipe = recipe or BaseRecipe()
    if not force and current_recipe(image) == recipe.hash:
        say(f"{image}: up to date (recipe {recipe.hash})")
        return False
    debootstrap = shutil.which("debootstrap")
    if debootstrap is None:
        raise NotInstalled("debootstrap is not installed (scripts/setup.sh installs it)")
    started = time.monotonic()
    # /var/tmp, not /tmp: the root file system is a few hundred MB, /tmp may be a small tmpfs.
    # A private mkdtemp folder (0700, unpredictable name), so bandit B108 does not apply.
    with tempfile.TemporaryDirectory(prefix="mlgitops-base-", dir="/var/tmp") as tmp:  # nosec B108
        rootfs = Path(tmp) / "rootfs"
        say(f"{image}: debootstrap --variant={recipe.variant} {recipe.suite} "
            f"(+{','.join(recipe.packages)}), about a minute")
        _run([debootstrap, f"--variant={recipe.variant}",
              f"--include={','.join(recipe.packages)}", recipe.suite, str(rootfs), mirror])
        # Package caches are not part of the recipe: leave them out of every image.
        for junk in ("var/cache/apt/archives", "var/lib/apt/lists"):
            for item in (rootfs / junk).glob("*"):
                if item.is_file():
                    item.unlink()
        tarball = Path(tmp) / "rootfs.tar"
        _run(["tar", "-C", str(rootfs), "--numeric-owner", "-cf", str(tarball), "."])
        say(f"{image}: docker import ({tarball.stat().st_size // 2**20} MB)")
        repo, _, tag = image.rpartition(":")
        client().api.import_image_from_file(
            str(tarball), repository=repo, tag=tag,
            changes=[f"LABEL {RECIPE_LABEL}={recipe.hash}", f"LABEL {MANAGED}=base",
                     "ENV LANG=C.UTF-8", 'CMD ["python3"]'],
        )
    got = current_recipe(image)
    if got != recipe.hash:
        raise ToolkitError(f"{image}: imported, but its recipe label reads {got!r}")
    say(f"{image}: built in {time.monotonic() - started:.0f}s (recipe {recipe.hash})")
    return True


def _run(argv: list[str]) -> None:
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)  # noqa: S603
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        raise ToolkitError(f"{Path(argv[0]).name} failed ({proc.returncode}): {' | '.join(tail)}")
