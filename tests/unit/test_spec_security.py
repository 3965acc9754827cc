"""Spec strings that reach rendered files or the file system (issue 13: items 3, 12, 13).

The refusals themselves are corpus cases (tests/specs_broken/41-43); these check what the
corpus cannot express: symbolic links, and that valid-but-awkward text stays one value.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from runner.errors import SpecError
from runner.render import render_all
from runner.spec import load_platform
from runner.spec.models import Platform

REPO = Path(__file__).resolve().parents[2]


def _projects(root: Path) -> Path:
    shutil.copytree(REPO / "specs", root / "specs")
    for name in ("bankchurn", "carvision", "telecom"):
        fixtures = root / "projects" / name / "tests" / "fixtures"
        fixtures.mkdir(parents=True)
        (fixtures / "sample_request.json").write_text("{}\n")
    return root / "projects" / "telecom" / "tests" / "fixtures" / "sample_request.json"


def test_a_smoke_request_linking_out_of_the_project_is_refused(tmp_path: Path) -> None:
    link = _projects(tmp_path)
    outside = tmp_path / "secret.json"
    outside.write_text("{}\n")
    link.unlink()
    link.symlink_to(outside)
    with pytest.raises(SpecError) as info:
        load_platform(tmp_path, "dev")
    assert info.value.one_line() == (
        "specs/services/telecom.yaml:3:10 project: smoke request "
        "'projects/telecom/tests/fixtures/sample_request.json' resolves outside the project"
    )


def test_links_that_stay_inside_the_project_are_followed(tmp_path: Path) -> None:
    # The checks walk with lstat and resolve only when a link is on the way: a link that
    # stays inside (a fixture kept elsewhere in the project, a project folder that is a
    # link to another place in the repository) must still pass.
    smoke = _projects(tmp_path)
    real = smoke.parent / "real.json"
    smoke.rename(real)
    smoke.symlink_to("real.json")
    moved = tmp_path / "elsewhere" / "bankchurn"
    moved.parent.mkdir()
    (tmp_path / "projects" / "bankchurn").rename(moved)
    (tmp_path / "projects" / "bankchurn").symlink_to(moved)
    assert sorted(load_platform(tmp_path, "dev").services) == ["bankchurn", "carvision",
                                                               "telecom"]


@pytest.mark.parametrize("make", ["missing", "directory", "dangling link"])
def test_a_smoke_request_that_is_not_a_file_is_refused(tmp_path: Path, make: str) -> None:
    smoke = _projects(tmp_path)
    smoke.unlink()
    if make == "directory":
        smoke.mkdir()
    elif make == "dangling link":
        smoke.symlink_to("nowhere.json")
    with pytest.raises(SpecError) as info:
        load_platform(tmp_path, "dev")
    assert info.value.one_line() == (
        "specs/services/telecom.yaml:3:10 project: smoke request "
        "'projects/telecom/tests/fixtures/sample_request.json' does not exist"
    )


def test_awkward_but_valid_text_stays_one_value_in_every_rendered_file() -> None:
    platform = load_platform(REPO, "dev")
    data = platform.model_dump()
    # Quotes, colons, '#', braces: valid in a state directory name, fatal unquoted in YAML.
    data["platform"]["state_dir"] = "it's: a #dir {x}"
    files = render_all(Platform.model_validate(data))
    compose = yaml.safe_load(files["compose.yaml"])
    assert sorted(compose["services"]) == sorted(
        [*platform.services, "mlflow", "prometheus", "alertmanager", "grafana"])
    volumes = compose["services"]["prometheus"]["volumes"]
    assert volumes[0].startswith("../../it's: a #dir {x}/prometheus/config:")
    for svc in platform.services:  # nothing but what the template writes
        assert set(compose["services"][svc]) == {
            "image", "network_mode", "environment", "healthcheck", "depends_on", "deploy"}
    for rel, text in files.items():
        if rel.endswith((".yml", ".yaml")):
            list(yaml.safe_load_all(text))  # every file (every document) still parses
