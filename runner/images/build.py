"""Service images: ``inv build`` (and the Docker runtime, for an image it lacks).

One recipe per service, the rendered ``generated/<env>/docker/<svc>/Dockerfile``, built
with the SDK on the host network (``network_mode="host"``: pip reaches the package index
the way the host does). The context is made here, not by the engine: only what the
rendered ``Dockerfile.dockerignore`` lets through, with owners, modes and times
normalised, so a fresh checkout of the same commit reuses every cached layer.

Tags: ``<repo>:spec-<spec hash>`` (what the Docker runtime runs for that spec),
``<repo>:<git short SHA>`` (what commit built it) and the spec's own tag (``latest``, what
the compose file names). Labels say the service, spec hash, commit and model.
"""

from __future__ import annotations

import io
import os
import re
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from runner.errors import NotInstalled, PermanentError, ToolkitError
from runner.images.base_image import BASE_IMAGE
from runner.images.docker_client import MANAGED, client, label, not_found

CA_NAME = "build-ca.crt"  # where the template looks for an extra CA bundle (build stage only)
STEP = re.compile(r"^Step (\d+)/(\d+) : (.*)$")

Progress = Callable[[str], None]


@dataclass(frozen=True)
class ImageRecipe:
    """What one service image is built from and what it is called."""

    service: str
    image: str  # the spec's image field, e.g. mlgitops/telecom:latest
    spec_hash: str
    model_name: str
    model_version: int
    root: Path
    dockerfile: Path  # the rendered Dockerfile

    @property
    def repository(self) -> str:
        return repository(self.image)

    @property
    def runtime_ref(self) -> str:
        return runtime_ref(self.image, self.spec_hash)


@dataclass
class BuiltImage:
    id: str
    tags: list[str]
    steps: int = 0
    cached: int = 0
    seconds: float = 0.0
    log: list[str] = field(default_factory=list)


def repository(image: str) -> str:
    """``host:5001/a/b:tag`` -> ``host:5001/a/b`` (a registry port is not a tag)."""
    head, sep, tail = image.rpartition(":")
    return head if sep and "/" not in tail else image


def runtime_ref(image: str, spec_hash: str) -> str:
    """The tag the Docker runtime runs for a spec hash."""
    return f"{repository(image)}:spec-{spec_hash}"


def dockerfile_for(root: Path, environment: str, service: str) -> Path:
    """The rendered Dockerfile of ``service``; a clear error when it was never rendered."""
    path = root / "generated" / environment / "docker" / service / "Dockerfile"
    if not path.is_file():
        raise PermanentError(f"{path.relative_to(root)} does not exist: run `inv render "
                             f"--env {environment}` first")
    return path


def git_commit(root: Path) -> str:
    """The short SHA of HEAD (``-dirty`` when tracked files changed); ``nogit`` outside git."""
    def git(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["git", "-C", str(root), *args], capture_output=True,  # noqa: S603,S607
                              text=True, check=False)

    head = git("rev-parse", "--short=12", "HEAD")
    if head.returncode != 0:
        return "nogit"
    dirty = git("diff", "--quiet", "HEAD", "--").returncode != 0
    return head.stdout.strip() + ("-dirty" if dirty else "")


def default_ca_bundle() -> Path | None:
    """The host's pip CA bundle (PIP_CERT), passed into builds behind a TLS-inspecting proxy."""
    value = os.environ.get("MLGITOPS_BUILD_CA") or os.environ.get("PIP_CERT")
    return Path(value) if value and Path(value).is_file() else None


def image_exists(ref: str) -> bool:
    try:
        client().images.get(ref)
    except not_found():
        return False
    return True


def build_context(recipe: ImageRecipe, ca_bundle: Path | None, out: IO[bytes]) -> int:
    """Write the build context tar to ``out``; returns how many files went in."""
    from docker.utils.build import exclude_paths

    ignore = recipe.dockerfile.with_name("Dockerfile.dockerignore")
    patterns = []
    if ignore.is_file():
        patterns = [line.strip() for line in ignore.read_text().splitlines()
                    if line.strip() and not line.lstrip().startswith("#")]
    files = sorted(exclude_paths(str(recipe.root), patterns))
    count = 0
    with tarfile.open(fileobj=out, mode="w") as tar:
        for rel in files:
            full = recipe.root / rel
            if full.is_symlink() or not (full.is_file() or full.is_dir()):
                continue  # sockets, FIFOs and links have no place in an image's sources
            info = tar.gettarinfo(str(full), arcname=rel)
            _normalise(info)
            if info.isfile():
                with full.open("rb") as handle:
                    tar.addfile(info, handle)
                count += 1
            else:
                tar.addfile(info)
        extras = {"Dockerfile": recipe.dockerfile.read_bytes()}
        if ca_bundle is not None:
            extras[CA_NAME] = ca_bundle.read_bytes()
        for name, data in extras.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            _normalise(info)
            tar.addfile(info, io.BytesIO(data))
    out.seek(0)
    return count


def _normalise(info: tarfile.TarInfo) -> None:
    # The same sources give the same layers whoever checked them out, and whenever.
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    info.mtime = 0
    if info.isdir() or info.mode & 0o100:
        info.mode = 0o755
    else:
        info.mode = 0o644


def build_image(
    recipe: ImageRecipe,
    *,
    commit: str | None = None,
    base_image: str = BASE_IMAGE,
    ca_bundle: Path | None = None,
    progress: Progress | None = None,
) -> BuiltImage:
    """Build ``recipe`` and tag it; one progress line per Dockerfile step."""
    say = progress or (lambda _m: None)
    if not image_exists(base_image):
        raise NotInstalled(f"base image {base_image} is missing: run `inv images-base`")
    commit = commit or git_commit(recipe.root)
    labels = {
        MANAGED: "image",
        label("service"): recipe.service,
        label("spec-hash"): recipe.spec_hash,
        label("commit"): commit,
        label("model-name"): recipe.model_name,
        # The version the spec pinned when this was built: the image serves any version
        # (MODEL_VERSION is set per container), so the container's label is the truth.
        label("model-version"): str(recipe.model_version),
        "org.opencontainers.image.revision": commit,
    }
    started = time.monotonic()
    built = BuiltImage(id="", tags=[])
    cli = client(timeout_s=1800)
    with tempfile.TemporaryFile() as ctx:
        files = build_context(recipe, ca_bundle, ctx)
        say(f"{recipe.service}: building {recipe.runtime_ref} ({files} files in context)")
        stream = cli.api.build(
            fileobj=ctx, custom_context=True, dockerfile="Dockerfile",
            tag=recipe.runtime_ref, buildargs={"BASE_IMAGE": base_image}, labels=labels,
            network_mode="host", decode=True, rm=True, forcerm=True,
        )
        for item in stream:
            _follow(item, built, recipe.service, say)
    if not built.id:
        tail = " | ".join(built.log[-3:])
        raise ToolkitError(f"{recipe.service}: image build failed: {tail[-500:]}")
    built.tags = [recipe.runtime_ref]
    for tag in _sanitise_tags([commit, recipe.image.rpartition(":")[2] if ":" in
                               recipe.image.rsplit("/", 1)[-1] else "latest"]):
        cli.api.tag(built.id, recipe.repository, tag)
        built.tags.append(f"{recipe.repository}:{tag}")
    built.seconds = time.monotonic() - started
    say(f"{recipe.service}: built {built.id[7:19]} in {built.seconds:.1f}s "
        f"({built.cached}/{built.steps} steps cached), tags {', '.join(built.tags)}")
    return built


def _follow(item: dict[str, Any], built: BuiltImage, service: str, say: Progress) -> None:
    """One decoded build-stream item: progress lines, the image id, errors."""
    if "error" in item:
        built.log.append(str(item["error"]).strip())
        return
    aux = item.get("aux")
    if isinstance(aux, dict) and aux.get("ID"):
        built.id = str(aux["ID"])
    text = str(item.get("stream") or "")
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        built.log.append(line)
        match = STEP.match(line)
        if match:
            built.steps = int(match.group(2))
            say(f"{service}: step {match.group(1)}/{match.group(2)} {match.group(3)[:90]}")
        elif line == "---> Using cache":
            built.cached += 1
        elif line.startswith("Successfully built ") and not built.id:
            built.id = line.split()[-1]


def _sanitise_tags(tags: list[str]) -> list[str]:
    out = []
    for tag in tags:
        clean = re.sub(r"[^A-Za-z0-9_.-]", "-", tag)[:128]
        if clean and clean not in out:
            out.append(clean)
    return out


def ensure_image(recipe: ImageRecipe, *, progress: Progress | None = None,
                 ca_bundle: Path | None = None) -> str:
    """The runtime's image for ``recipe``: reused when present, else built now."""
    if image_exists(recipe.runtime_ref):
        return recipe.runtime_ref
    build_image(recipe, ca_bundle=ca_bundle or default_ca_bundle(), progress=progress)
    return recipe.runtime_ref
