"""A validated-specs cache, so a no-op ``inv plan`` does not re-parse every YAML file.

Parsing with line positions dominates a plan of 100 services (about 10 ms per file).
The cache holds the validated ``Platform`` as JSON, keyed by the size and mtime of every
file under ``specs/`` and of the spec code itself: any edit, added or removed file, or
toolkit change misses and loads (and validates) from scratch.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from runner.spec.models import Platform

CODE = Path(__file__).resolve().parents[1] / "spec"


def _signature(root: Path, env: str) -> str:
    parts = [env]
    for base in (root / "specs", CODE):
        for path in sorted(base.rglob("*")):
            if path.suffix in (".yaml", ".yml", ".py") and path.is_file():
                st = path.stat()
                parts.append(f"{path}:{st.st_mtime_ns}:{st.st_size}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def load_platform_cached(root: Path, env: str, cache_dir: Path) -> Platform:
    """``load_platform(root, env)``, answered from the cache when no spec changed."""
    from runner.spec import load_platform

    signature = _signature(root, env)
    path = cache_dir / f"platform-{env}.json"
    try:
        data = json.loads(path.read_text())
        if data.get("signature") == signature:
            return Platform.model_validate(data["platform"])
    except (OSError, ValueError, KeyError):
        pass
    platform = load_platform(root, env)  # raises SpecError: nothing cached for bad specs
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"signature": signature,
                                   "platform": platform.model_dump(mode="json")}))
        os.replace(tmp, path)
    except OSError:
        pass  # a read-only state dir only costs speed
    return platform
