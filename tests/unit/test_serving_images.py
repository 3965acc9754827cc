"""The services' Dockerfiles, rendered from the specs: multi-stage, non-root, health-checked,
copying files that exist, and carrying the spec's port, model and project.

Images are not built here (no registry, and a build takes minutes); this checks what can
go stale without one: paths, the launch contract's environment, the pinned requirements,
and that a spec string cannot break out of its instruction.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from runner.render import render_all
from runner.spec import load_platform
from runner.spec.models import Platform

ROOT = Path(__file__).resolve().parents[2]
PROJECTS = ("bankchurn", "carvision", "telecom")
PORTS = {"bankchurn": 8001, "carvision": 8002, "telecom": 8003}


@pytest.fixture(scope="module")
def platform() -> Platform:
    return load_platform(ROOT, "dev")


@pytest.fixture(scope="module")
def files(platform: Platform) -> dict[str, str]:
    return render_all(platform)


def parse(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, rest) pairs, continuation lines joined, comments dropped."""
    joined = re.sub(r"\\\n\s*", " ", text)
    out = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def env_vars(steps: list[tuple[str, str]]) -> dict[str, str]:
    """ENV KEY=VALUE pairs; JSON-quoted values unquoted (Dockerfile double quotes)."""
    out = {}
    for word, rest in steps:
        if word == "ENV":
            for key, value in re.findall(r'(\w+)=("(?:[^"\\]|\\.)*"|\S+)', rest):
                out[key] = json.loads(value) if value.startswith('"') else value
    return out


def copy_sources(rest: str) -> list[str]:
    """The source paths of one COPY (plain or JSON-array form), without the destination."""
    parts = json.loads(rest) if rest.startswith("[") else rest.split()
    return parts[:-1]


@pytest.mark.parametrize("project", PROJECTS)
def test_dockerfile_shape(project: str, files: dict[str, str]) -> None:
    text = files[f"docker/{project}/Dockerfile"]
    assert text.startswith("# syntax=docker/dockerfile:1\n")  # a parser directive: line 1
    steps = parse(text)
    froms = [rest for word, rest in steps if word == "FROM"]
    assert len(froms) == 2 and froms[0].endswith("AS build")
    assert all(rest.startswith("${BASE_IMAGE}") for rest in froms)  # local base, no pulls
    users = [rest for word, rest in steps if word == "USER"]
    assert users and users[-1] not in ("root", "0")
    assert any(
        word == "HEALTHCHECK" and "runner.serving.healthcheck" in rest for word, rest in steps
    )
    assert ("CMD", '["python", "-m", "runner.serving.launch"]') in steps
    env = env_vars(steps)
    assert env["MLGITOPS_SERVICE"] == project
    assert env["MLGITOPS_PROJECT_DIR"] == f"/app/projects/{project}"
    assert env["MODEL_NAME"] == f"{project}-model" and env["PORT"] == str(PORTS[project])
    assert env["ADMIN_PORT"] == str(PORTS[project] + 1000)
    assert ("EXPOSE", f"{PORTS[project]} {PORTS[project] + 1000}") in steps


@pytest.mark.parametrize("project", PROJECTS)
def test_dockerfile_copies_existing_paths(project: str, files: dict[str, str]) -> None:
    steps = parse(files[f"docker/{project}/Dockerfile"])
    sources = [s for word, rest in steps if word == "COPY" and not rest.startswith("--from")
               for s in copy_sources(rest)]
    assert f"projects/{project}/" in sources, "the project folder goes into the image"
    optional = [s for s in sources if any(ch in s for ch in "*?[")]
    assert optional == ["build-ca.cr[t]"], "the only optional source: an extra CA bundle"
    for source in sources:
        if source not in optional:
            assert (ROOT / source).exists(), f"{project}/Dockerfile copies missing {source}"
    # What the replica reads at start is in that folder: service, contract, smoke record.
    for name in ("service.py", "contract.py", "tests/fixtures/sample_request.json"):
        assert (ROOT / "projects" / project / name).is_file()


def test_dockerignore_keeps_data_and_models_out(files: dict[str, str]) -> None:
    lines = files["docker/telecom/Dockerfile.dockerignore"].splitlines()
    rules = [line for line in lines if line and not line.startswith("#")]
    assert rules[0] == "*" and "!runner/" in rules and "!projects/" in rules
    assert "!build-ca.crt" in rules  # an extra CA bundle for pip, build stage only
    assert {"projects/*/data/", "projects/*/models/"} <= set(rules)


def test_dockerfile_follows_the_spec_and_quotes_its_strings(platform: Platform) -> None:
    """A changed port and model reach the image; a hostile project path stays one string."""
    svc = platform.services["telecom"]
    hostile = "projects/tele com\nRUN rm -rf /"
    changed = svc.model_copy(update={
        "port": 8123, "project": hostile,
        "model": svc.model.model_copy(update={"name": "other-model", "version": 7}),
    })
    edited = platform.model_copy(update={"services": {"telecom": changed}})
    steps = parse(render_all(edited)["docker/telecom/Dockerfile"])
    env = env_vars(steps)
    assert env["PORT"] == "8123" and env["MODEL_NAME"] == "other-model"
    # The version is a deploy-time input (the runtime sets it per container): an image
    # serves any version, so a retrain or a rollback needs no build.
    assert "MODEL_VERSION" not in env
    assert env["MLGITOPS_PROJECT_DIR"] == f"/app/{hostile}"
    assert not any(word == "RUN" and "rm -rf" in rest for word, rest in steps)
    [copy] = [rest for word, rest in steps if word == "COPY" and rest.startswith("[")]
    assert json.loads(copy) == [f"{hostile}/", f"/app/{hostile}/"]


def test_committed_dockerfiles_are_the_rendered_ones(files: dict[str, str]) -> None:
    for project in PROJECTS:
        for name in ("Dockerfile", "Dockerfile.dockerignore"):
            rel = f"docker/{project}/{name}"
            assert (ROOT / "generated" / "dev" / rel).read_text() == files[rel], rel
        assert not (ROOT / "projects" / project / "Dockerfile").exists(), "one template only"


def test_image_requirements_match_the_tested_versions() -> None:
    from importlib.metadata import version

    lines = (ROOT / "runner" / "serving" / "requirements.txt").read_text().splitlines()
    pins = dict(line.split("==") for line in lines if line and not line.startswith("#"))
    assert "mlflow-skinny" in pins and "scikit-learn" in pins and "skops" in pins
    for name, pinned in pins.items():
        assert version(name) == pinned, f"{name}: image pins {pinned}, venv has {version(name)}"
