"""A replica's configuration, read once from the environment the runtime sets.

The runtime (local processes, docker, swarm, kubernetes) only ever talks to a replica
through these variables, so this file is the whole launch contract of docs/architecture.md.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from runner.errors import PermanentError
from runner.locations import repo_root, state_path

DEFAULT_HOST = "127.0.0.1"
FALSE_WORDS = frozenset({"0", "false", "no", "off"})


@dataclass(frozen=True)
class ServingConfig:
    """Everything a replica needs to know about itself; built by :meth:`from_env`."""

    service: str
    project_dir: Path
    model_name: str
    model_version: str | None
    model_uri: str | None
    tracking_uri: str | None
    host: str
    port: int
    admin_port: int | None
    state_dir: Path
    # Prediction log: share of requests logged, bytes per file before rotating, files kept.
    log_sample: float = 1.0
    log_max_bytes: int = 20_000_000
    log_backups: int = 2
    # The fault switch (POST /_fault) exists only when this is true: tests and drills only.
    fault_enabled: bool = False
    access_log: bool = False
    max_body_bytes: int = 1024 * 1024  # larger request bodies get 413 (MLGITOPS_MAX_BODY_BYTES)
    replica: str | None = None  # the runtime's name for this replica (MLGITOPS_REPLICA)
    # MLGITOPS_FASTPATH=0 makes every request go through the fitted pipeline (ops' switch
    # if the per-record fast path is ever in doubt; see runner/serving/fastcheck.py).
    fastpath: bool = True

    @property
    def resolved_model_uri(self) -> str | None:
        """``MODEL_URI`` if given, else ``models:/<name>/<version>``; None if neither is known."""
        if self.model_uri:
            return self.model_uri
        if self.model_name and self.model_version:
            return f"models:/{self.model_name}/{self.model_version}"
        return None

    @property
    def prediction_log(self) -> Path:
        return self.state_dir / "predictions" / f"{self.service}.jsonl"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ServingConfig:
        """Read the launch contract; raise PermanentError naming the variable that is wrong."""
        env = os.environ if env is None else env
        service = _required(env, "MLGITOPS_SERVICE")
        project_dir = Path(_required(env, "MLGITOPS_PROJECT_DIR")).resolve()
        if not (project_dir / "service.py").is_file():
            raise PermanentError(f"MLGITOPS_PROJECT_DIR={project_dir}: no service.py there")
        # projects/<name> sits two levels below the repository root.
        state_dir = state_path(repo_root(project_dir.parent.parent, env), env=env)
        admin = env.get("ADMIN_PORT")
        return cls(
            service=service,
            project_dir=project_dir,
            model_name=env.get("MODEL_NAME", f"{service}-model"),
            # A missing version is not a start-up error: the replica answers 503 instead,
            # so the runtime sees an unhealthy replica rather than a crash loop.
            model_version=env.get("MODEL_VERSION") or None,
            model_uri=env.get("MODEL_URI") or None,
            tracking_uri=env.get("MLFLOW_TRACKING_URI") or None,
            host=env.get("HOST", DEFAULT_HOST),
            port=_port(env, "PORT"),
            admin_port=_port(env, "ADMIN_PORT") if admin else None,
            state_dir=state_dir.resolve(),
            log_sample=_fraction(env, "MLGITOPS_PREDICTION_SAMPLE", 1.0),
            log_max_bytes=int(env.get("MLGITOPS_PREDICTION_MAX_BYTES", "20000000")),
            fault_enabled=env.get("MLGITOPS_FAULT_ENABLE") == "1",
            access_log=env.get("MLGITOPS_ACCESS_LOG") == "1",
            max_body_bytes=_positive(env, "MLGITOPS_MAX_BODY_BYTES", 1024 * 1024),
            replica=env.get("MLGITOPS_REPLICA") or None,
            fastpath=env.get("MLGITOPS_FASTPATH", "1").strip().lower() not in FALSE_WORDS,
        )


def _required(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise PermanentError(f"{name} is not set")
    return value


def _port(env: Mapping[str, str], name: str) -> int:
    raw = _required(env, name)
    try:
        port = int(raw)
    except ValueError:
        raise PermanentError(f"{name}={raw!r} is not a port number") from None
    if not 0 <= port <= 65535:
        raise PermanentError(f"{name}={port} is out of range 0-65535")
    return port


def _positive(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None:
        return default
    if not raw.strip().isdigit() or int(raw) <= 0:
        raise PermanentError(f"{name}={raw!r} must be a positive whole number of bytes")
    return int(raw)


def _fraction(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise PermanentError(f"{name}={raw!r} is not a number") from None
    if not 0.0 <= value <= 1.0:
        raise PermanentError(f"{name}={value} must be between 0 and 1")
    return value
