"""Render only what changed: each service's files are reused while their inputs are unchanged.

A service's files are a function of its spec, the platform spec, the environment, the
templates and the render code (``Rendered`` in ``artifacts``). Their SHA-256 is the service's
*key*. After a render, a manifest under the state directory's cache records, per service, the
key and the size and mtime of each file written. The next render reuses a service when its
key is the same and each of its files is still on disk with that size and mtime (the test
git uses for its index), so a file edited or deleted by hand is rendered again. Fleet-wide
files (compose, Prometheus, Alertmanager, fleet dashboards) list every service and are always
rendered; they are cheap. Unchanged outputs are not rewritten either way (``files``).

``render --check`` does not use any of this: CI compares a full fresh render with git.
Should a render ever read another input (a file of the project, say), it must go into
``service_keys`` too, or an edit of it would not re-render the service.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path

import jinja2

from runner.render.artifacts import Rendered, render_parts
from runner.render.generated_files import Change, apply, diff_dir, scan
from runner.render.template_env import TEMPLATES_DIR
from runner.spec.models import Platform

MANIFEST_VERSION = 1
_CODE = Path(__file__).resolve().parent  # runner/render: every module can change an output
# Outside render: metric names the templates use, and the spec models (their properties and
# methods are read by templates; defaults show in the dumped spec anyway).
_OTHER_CODE = (_CODE.parent / "contract.py", _CODE.parent / "spec" / "models.py")


def _sha(*parts: bytes) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(len(part).to_bytes(8, "little"))
        digest.update(part)
    return digest.hexdigest()


def code_key(folder: Path) -> str:
    """The content of the Python files in ``folder``."""
    paths = sorted(folder.glob("*.py"))
    return _sha(*(part for p in paths for part in (str(p).encode(), p.read_bytes())))


def inputs_key(templates_dir: Path = TEMPLATES_DIR) -> str:
    """The content of every template and of the code that renders them (a few ms)."""
    paths = sorted(p for p in templates_dir.rglob("*") if p.is_file())
    paths += sorted(_CODE.glob("*.py")) + list(_OTHER_CODE)
    parts = [f"jinja2 {jinja2.__version__}".encode()]
    parts += [part for p in paths for part in (str(p).encode(), p.read_bytes())]
    return _sha(*parts)


def service_keys(platform: Platform, code: str) -> dict[str, str]:
    """Each service's key: its spec, the platform spec, the environment, and ``code``."""
    common = _sha(code.encode(), platform.environment.encode(),
                  platform.platform.model_dump_json().encode())
    return {name: _sha(common.encode(), spec.model_dump_json().encode())
            for name, spec in platform.services.items()}


Stat = tuple[int, int]  # size, mtime_ns
Renderer = Callable[[Platform, Collection[str]], Rendered]


def _stat(path: str) -> Stat | None:
    try:
        st = os.stat(path)  # a str path: pathlib's joins cost more than the stat at 8,000 files
    except OSError:
        return None
    return st.st_size, st.st_mtime_ns


@dataclass
class Manifest:
    """service -> (key, {relative path: stat}) as left by the last render of one directory."""

    directory: str
    services: dict[str, tuple[str, dict[str, Stat]]]

    @classmethod
    def load(cls, path: Path, directory: Path) -> Manifest:
        empty = cls(str(directory), {})
        try:
            st = path.stat()
            if st.st_uid != os.getuid() or st.st_mode & 0o022:
                return empty  # trusted like the other caches: ours, not writable by others
            data = json.loads(path.read_text(encoding="utf-8"))
            if data.get("version") != MANIFEST_VERSION or data.get("directory") != str(directory):
                return empty
            services = {
                name: (key, {rel: (s[0], s[1]) for rel, s in files.items()})
                for name, (key, files) in data["services"].items()
            }
        except (OSError, ValueError, KeyError, TypeError, IndexError):
            return empty
        return cls(str(directory), services)

    def save(self, path: Path) -> None:
        data = {"version": MANIFEST_VERSION, "directory": self.directory,
                "services": {name: [key, {rel: list(s) for rel, s in files.items()}]
                             for name, (key, files) in sorted(self.services.items())}}
        try:
            text = json.dumps(data, separators=(",", ":"))  # dumps: the C encoder, unlike dump
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
            os.replace(tmp, path)
        except OSError:
            pass  # a manifest that cannot be written only costs speed

    def fresh(self, name: str, key: str, on_disk: dict[str, Stat]) -> dict[str, Stat] | None:
        """The files of ``name`` when its key matches and each is on disk as written."""
        entry = self.services.get(name)
        if entry is None or entry[0] != key or not entry[1]:
            return None
        files = entry[1]
        for rel, stat in files.items():
            if on_disk.get(rel) != stat:
                return None
        return files


@dataclass
class RenderPlan:
    """What bringing one directory up to date takes: computed first, then applied as is."""

    directory: Path
    manifest_path: Path | None
    keys: dict[str, str]
    reused: dict[str, dict[str, Stat]]  # service -> its files, up to date on disk
    rendered: Rendered
    files: int  # files the environment has
    changes: list[Change]  # writes, and removals of files nothing renders, in path order

    @property
    def stale(self) -> list[str]:
        return [change.path for change in self.changes if change.op == "delete"]


def plan_render(platform: Platform, directory: Path, manifest_path: Path | None,
                *, with_old: bool = False, render: Renderer = render_parts,
                keys: dict[str, str] | None = None) -> RenderPlan:
    """Render what changed since the manifest and compare it with ``directory``. ``with_old``:
    also read the text of files to remove (for diffs); ``render``: what renders the
    directory's files (``generated/<env>/`` by default, or the CI workflows); ``keys``: the
    services' keys when the caller has them (dumping 1,000 specs to hash them takes 10 ms)."""
    keys = keys if keys is not None else service_keys(platform, inputs_key())
    manifest = (Manifest.load(manifest_path, directory) if manifest_path is not None
                else Manifest(str(directory), {}))
    on_disk = scan(directory)
    reused: dict[str, dict[str, Stat]] = {}
    for name, key in keys.items():
        known = manifest.fresh(name, key, on_disk)
        if known is not None:
            reused[name] = known
    rendered = render(platform, reused)
    wanted = rendered.files()
    keep = {rel for files in reused.values() for rel in files}
    changes = diff_dir(directory, wanted, keep=keep, with_old=with_old, on_disk=on_disk)
    return RenderPlan(directory, manifest_path, keys, reused, rendered, len(wanted) + len(keep),
                      changes)


def apply_render(plan: RenderPlan, *, prune: bool = True) -> list[Change]:
    """Make the plan's changes (removals only with ``prune``) and record the new manifest."""
    changes = [c for c in plan.changes if prune or c.op != "delete"]
    apply(plan.directory, changes)
    if plan.manifest_path is not None and (plan.rendered.services or changes):
        services = {name: (plan.keys[name], files) for name, files in plan.reused.items()}
        folder = str(plan.directory)
        for name, files in plan.rendered.services.items():
            stats = {rel: _stat(f"{folder}/{rel}") for rel in files}
            services[name] = (plan.keys[name], {r: s for r, s in stats.items() if s is not None})
        Manifest(str(plan.directory), services).save(plan.manifest_path)
    return changes
