"""The projects' Dockerfiles: multi-stage, non-root, health-checked, and copying files that exist.

Images are not built here (no registry, and a build takes minutes); this checks what can
go stale without one: paths, the launch contract's environment and the pinned requirements.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROJECTS = ("bankchurn", "carvision", "telecom")
PORTS = {"bankchurn": 8001, "carvision": 8002, "telecom": 8003}


def instructions(project: str) -> list[tuple[str, str]]:
    text = (ROOT / "projects" / project / "Dockerfile").read_text()
    joined = re.sub(r"\\\n\s*", " ", text)  # continuation lines
    out = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


@pytest.mark.parametrize("project", PROJECTS)
def test_dockerfile_shape(project: str) -> None:
    steps = instructions(project)
    froms = [rest for word, rest in steps if word == "FROM"]
    assert len(froms) == 2 and froms[0].endswith("AS build")
    assert all(rest.startswith("${BASE_IMAGE}") for rest in froms)  # local base, no pulls
    users = [rest for word, rest in steps if word == "USER"]
    assert users and users[-1] not in ("root", "0")
    assert any(
        word == "HEALTHCHECK" and "runner.serving.healthcheck" in rest for word, rest in steps
    )
    assert ("CMD", '["python", "-m", "runner.serving.launch"]') in steps
    env = " ".join(rest for word, rest in steps if word == "ENV")
    assert f"MLGITOPS_SERVICE={project}" in env
    assert f"MLGITOPS_PROJECT_DIR=/app/projects/{project}" in env
    assert f"MODEL_NAME={project}-model" in env and f"PORT={PORTS[project]}" in env


@pytest.mark.parametrize("project", PROJECTS)
def test_dockerfile_copies_existing_paths(project: str) -> None:
    for word, rest in instructions(project):
        if word != "COPY" or rest.startswith("--from"):
            continue
        source = rest.split()[0]
        assert (ROOT / source).exists(), f"{project}/Dockerfile copies missing {source}"


def test_image_requirements_match_the_tested_versions() -> None:
    from importlib.metadata import version

    lines = (ROOT / "runner" / "serving" / "requirements.txt").read_text().splitlines()
    pins = dict(line.split("==") for line in lines if line and not line.startswith("#"))
    assert "mlflow-skinny" in pins and "scikit-learn" in pins and "skops" in pins
    for name, pinned in pins.items():
        assert version(name) == pinned, f"{name}: image pins {pinned}, venv has {version(name)}"
