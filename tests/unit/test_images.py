"""Image names, build contexts and container facts: the parts of the container runtime that
need no engine (the engine-backed behaviour is tests/integration/test_docker_runtime.py)."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

from runner.images.base_image import BaseRecipe
from runner.images.build import ImageRecipe, build_context, repository, runtime_ref
from runner.runtime.docker_engine import _fact

ROOT = Path(__file__).resolve().parents[2]


def test_repository_keeps_a_registry_port_and_drops_the_tag() -> None:
    assert repository("mlgitops/telecom:latest") == "mlgitops/telecom"
    assert repository("127.0.0.1:5001/mlgitops/telecom:v1") == "127.0.0.1:5001/mlgitops/telecom"
    assert repository("127.0.0.1:5001/mlgitops/telecom") == "127.0.0.1:5001/mlgitops/telecom"
    assert runtime_ref("mlgitops/telecom:latest", "ab" * 8) == "mlgitops/telecom:spec-" + "ab" * 8


def test_base_recipe_hash_is_stable_and_follows_the_packages() -> None:
    assert BaseRecipe().hash == BaseRecipe().hash
    assert BaseRecipe(packages=("python3", "curl")).hash != BaseRecipe().hash
    assert BaseRecipe(packages=("b", "a")).hash == BaseRecipe(packages=("a", "b")).hash


def test_build_context_is_what_the_dockerignore_allows_normalised(tmp_path: Path) -> None:
    recipe = ImageRecipe(
        service="telecom", image="mlgitops/telecom:latest", spec_hash="0" * 16,
        model_name="telecom-model", model_version=1, root=ROOT,
        dockerfile=ROOT / "generated" / "dev" / "docker" / "telecom" / "Dockerfile",
    )
    ca = tmp_path / "ca.crt"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    out = io.BytesIO()
    build_context(recipe, ca, out)
    with tarfile.open(fileobj=out) as tar:
        members = {m.name: m for m in tar.getmembers()}
    names = set(members)
    assert {"Dockerfile", "build-ca.crt", "runner/serving/launch.py",
            "projects/telecom/service.py"} <= names
    assert not any(n.startswith((".venv", ".state", "specs/", ".git/")) for n in names)
    assert not any("/data/" in n or "/models/" in n or "__pycache__" in n for n in names)
    assert {(m.uid, m.gid, m.mtime) for m in members.values()} == {(0, 0, 0)}
    assert {m.mode for m in members.values()} <= {0o644, 0o755}


def test_container_labels_are_the_facts() -> None:
    labels = {"org.mlgitops.service": "telecom", "org.mlgitops.replica": "telecom-v2-ab-1",
              "org.mlgitops.spec-hash": "ab" * 8, "org.mlgitops.model-name": "telecom-model",
              "org.mlgitops.model-version": "2", "org.mlgitops.port": "8003",
              "org.mlgitops.admin-port": "41000", "org.mlgitops.started-at": "12.5"}
    serving = _fact({"Names": ["/mlgitops-dev-telecom-v2-ab-1"], "Labels": labels,
                     "State": "running"})
    assert (serving.service, serving.model_version, serving.admin_port) == ("telecom", 2, 41000)
    assert serving.running and serving.parked_at == 0.0
    assert serving.log == "mlgitops-dev-telecom-v2-ab-1"  # the container's name
    parked = _fact({"Names": ["/mlgitops-dev-telecom-v2-ab-1.standby.1700000000"],
                    "Labels": labels, "State": "exited"})
    assert parked.parked_at == 1700000000.0 and not parked.running
