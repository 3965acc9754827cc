"""The one interface to a project folder (runner.ml.project), and models that name the
feature functions by their old home (runner.ml.features) still loading."""

from __future__ import annotations

import io
import pickle
import shutil
import sys
import zipfile
from pathlib import Path

import pytest

from runner.errors import PermanentError
from runner.ml import registry
from runner.ml.project import load_project, load_projects, project_dirs, project_module

ROOT = Path(__file__).resolve().parents[2]


def test_every_project_folder_is_found_and_loaded() -> None:
    projects = load_projects(ROOT)
    assert sorted(projects) == ["bankchurn", "carvision", "telecom"]
    for name, project in projects.items():
        assert project.contract.project == name
        assert project.contract.model_name == f"{name}-model"
        assert project.dir == ROOT / "projects" / name
        assert project.generator.is_file() and project.service_file.is_file()
        assert project.raw_data == project.dir / "data" / "raw" / project.contract.raw_file
    assert [p.name for p in project_dirs(ROOT)] == sorted(projects)


def test_project_files_form_the_package_projects_name() -> None:
    carvision = load_project(ROOT / "projects" / "carvision").contract
    derivation = carvision.derivation
    assert derivation is not None
    assert derivation.qualified_name == "projects.carvision.features.car_features"
    assert sys.modules["projects.carvision.features"].car_features is derivation.func
    # Loading again returns the same objects: the module is imported once.
    assert load_project(ROOT / "projects" / "carvision").contract is carvision
    assert load_project(ROOT / "projects" / "telecom").contract.derivation is None


def test_trusted_types_add_only_the_projects_own_function() -> None:
    carvision = load_project(ROOT / "projects" / "carvision").contract
    telecom = load_project(ROOT / "projects" / "telecom").contract
    assert registry.trusted_types(telecom) == sorted(registry.TRUSTED_TYPES)
    assert set(registry.trusted_types(carvision)) - set(registry.TRUSTED_TYPES) == {
        "projects.carvision.features.car_features"
    }


def _project(tmp_path: Path, name: str, contract: str) -> Path:
    folder = tmp_path / "projects" / name
    folder.mkdir(parents=True)
    (folder / "contract.py").write_text(contract)
    return folder


def test_a_copy_of_a_project_elsewhere_is_imported_from_its_own_folder(
    tmp_path: Path,
) -> None:
    copy = tmp_path / "projects" / "telecom"
    shutil.copytree(ROOT / "projects" / "telecom", copy)
    text = (copy / "contract.py").read_text().replace('"telecom-model"', '"telecom-copy"')
    (copy / "contract.py").write_text(text)
    try:
        assert load_project(copy).contract.model_name == "telecom-copy"
    finally:
        assert load_project(ROOT / "projects" / "telecom").contract.model_name == \
            "telecom-model"


@pytest.mark.parametrize(("contract", "message"), [
    ("CONTRACT = 3\n", "CONTRACT must be a runner.ml.schemas.DatasetSchema"),
    ("CONTRACT = (\n", "cannot be imported: SyntaxError"),
    ("from .nothing import X\n", "cannot be imported: ModuleNotFoundError"),
])
def test_a_broken_contract_is_one_line_naming_the_file(
    tmp_path: Path, contract: str, message: str
) -> None:
    folder = _project(tmp_path, "broken", contract)
    with pytest.raises(PermanentError) as info:
        load_project(folder)
    text = info.value.one_line()
    assert str(folder / "contract.py") in text and message in text
    assert "\n" not in text


def test_the_contract_must_name_its_folder(tmp_path: Path) -> None:
    text = (ROOT / "projects" / "telecom" / "contract.py").read_text()
    folder = _project(tmp_path, "renamed", text)
    with pytest.raises(PermanentError, match="CONTRACT.project is 'telecom' but the folder "
                                             "is 'renamed'"):
        load_project(folder)


def test_missing_folder_or_contract(tmp_path: Path) -> None:
    with pytest.raises(PermanentError, match="does not exist"):
        load_project(tmp_path / "projects" / "absent")
    (tmp_path / "projects" / "empty").mkdir(parents=True)
    with pytest.raises(PermanentError, match="contract.py: does not exist"):
        load_project(tmp_path / "projects" / "empty")
    with pytest.raises(PermanentError, match="servicex.py: does not exist"):
        project_module(ROOT / "projects" / "telecom", "servicex")


def test_models_naming_the_old_home_of_car_features_still_load() -> None:
    """Registered before the move, carvision models store runner.ml.features.car_features."""
    import pandas as pd
    from sklearn.preprocessing import FunctionTransformer
    from skops.io import dumps, loads

    contract = load_project(ROOT / "projects" / "carvision").contract
    assert contract.derivation is not None
    func = contract.derivation.func
    # pickle (joblib files) resolves the old global through the module's __getattr__.
    assert pickle.loads(b"crunner.ml.features\ncar_features\n.") is func  # noqa: S301

    # skops (the registry's format): the same step saved under the old module name.
    saved = io.BytesIO(dumps(FunctionTransformer(func)))
    old = io.BytesIO()
    with zipfile.ZipFile(saved) as src, zipfile.ZipFile(old, "w") as dst:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename == "schema.json":
                data = data.replace(b"projects.carvision.features", b"runner.ml.features")
                assert b"runner.ml.features" in data
            dst.writestr(item, data)
    step = loads(old.getvalue(), trusted=["runner.ml.features.car_features",
                                          "sklearn.preprocessing._function_transformer."
                                          "FunctionTransformer"])
    assert step.func is func
    out = step.transform(pd.DataFrame([contract.example]))
    assert out.loc[0, "brand"] == "bmw" and out.loc[0, "vehicle_age"] == 7


def test_unknown_names_are_still_attribute_errors() -> None:
    import runner.ml.features as features

    with pytest.raises(AttributeError, match="no attribute 'not_a_feature'"):
        features.not_a_feature  # noqa: B018
    assert not hasattr(features, "__path__")
