"""A model project is a folder; this is the one way the toolkit reads it.

``projects/<name>/`` holds everything that is particular to one model:

- ``contract.py``: ``CONTRACT = DatasetSchema(...)`` (raw columns, target, model name);
- ``features.py``: derived features, if any (a ``Derivation`` the contract refers to);
- ``generate.py``: ``generate(rows, seed, shift)`` and ``runner.ml.generator_cli.run`` for
  its command line (``--rows --seed --shift --out``);
- ``service.py``: ``SERVICE = from_schema(CONTRACT, ...)``, the serving surface;
- ``params.yaml`` and ``dvc.yaml``: training settings and the pipeline;
- ``tests/fixtures/sample_request.json``: the smoke and health self-test record.

Project files are imported as the package ``projects.<name>`` whatever ``sys.path``
holds (no ``__init__.py`` needed), so they import each other relatively
(``from .contract import CONTRACT``) and a function pickled into a model is named
``projects.<name>.features.<function>`` on every machine. Project files import from the
toolkit only ``runner.ml.schemas`` (the contract types), ``runner.serving.records``
(the service built from a contract) and ``runner.ml.generator_cli`` (the generator flags).
"""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from runner.errors import PermanentError
from runner.ml.schemas import DatasetSchema

PACKAGE = "projects"
CONTRACT_FILE = "contract.py"


@dataclass(frozen=True)
class Project:
    """One loaded project: its folder and its data contract."""

    name: str
    dir: Path
    contract: DatasetSchema

    @property
    def raw_data(self) -> Path:
        """The raw data file the pipeline starts from (``data/raw/<raw_file>``)."""
        return self.dir / "data" / "raw" / self.contract.raw_file

    @property
    def generator(self) -> Path:
        return self.dir / "generate.py"

    @property
    def params_file(self) -> Path:
        return self.dir / "params.yaml"

    @property
    def service_file(self) -> Path:
        return self.dir / "service.py"

    def generate_argv(self, *, rows: int, seed: int, shift: float, out: Path) -> list[str]:
        """The generator's command line (run with the project folder as working directory)."""
        return [sys.executable, str(self.generator), "--rows", str(rows), "--seed", str(seed),
                "--shift", str(shift), "--out", str(out)]


def _register_package(name: str, path: Path, *, replace: bool) -> None:
    """Put a namespace-style package for ``path`` in ``sys.modules`` under ``name``."""
    existing = sys.modules.get(name)
    if existing is not None:
        if not replace or list(getattr(existing, "__path__", [])) == [str(path)]:
            return
        # The same project name from another folder (a copy of the repository): forget
        # the old one's modules so the files of this folder are imported.
        for key in [k for k in sys.modules if k.startswith(f"{name}.")]:
            del sys.modules[key]
    spec = importlib.machinery.ModuleSpec(name, None, is_package=True)
    spec.submodule_search_locations = [str(path)]
    sys.modules[name] = importlib.util.module_from_spec(spec)


def project_module(project_dir: Path, module: str) -> ModuleType:
    """Import ``<project_dir>/<module>.py`` as ``projects.<name>.<module>`` (cached)."""
    project_dir = project_dir.resolve()
    path = project_dir / f"{module}.py"
    if not path.is_file():
        raise PermanentError(f"{path}: does not exist")
    _register_package(PACKAGE, project_dir.parent, replace=False)
    _register_package(f"{PACKAGE}.{project_dir.name}", project_dir, replace=True)
    try:
        return importlib.import_module(f"{PACKAGE}.{project_dir.name}.{module}")
    except PermanentError:
        raise
    except Exception as exc:  # the user's code: any error becomes one line naming the file
        raise PermanentError(f"{path}: cannot be imported: {type(exc).__name__}: {exc}") \
            from None


def load_project(project_dir: Path) -> Project:
    """The project in ``project_dir``: its ``contract.py`` checked against the folder name."""
    project_dir = project_dir.resolve()
    if not project_dir.is_dir():
        raise PermanentError(f"project folder {project_dir} does not exist")
    contract = getattr(project_module(project_dir, "contract"), "CONTRACT", None)
    source = project_dir / CONTRACT_FILE
    if not isinstance(contract, DatasetSchema):
        raise PermanentError(f"{source}: CONTRACT must be a runner.ml.schemas.DatasetSchema")
    if contract.project != project_dir.name:
        raise PermanentError(f"{source}: CONTRACT.project is {contract.project!r} but the "
                             f"folder is {project_dir.name!r}")
    return Project(name=project_dir.name, dir=project_dir, contract=contract)


def project_dirs(root: Path) -> list[Path]:
    """Every folder under ``<root>/projects`` that holds a contract, by name."""
    base = root / PACKAGE
    if not base.is_dir():
        return []
    return sorted(p for p in base.iterdir() if (p / CONTRACT_FILE).is_file())


def load_projects(root: Path) -> dict[str, Project]:
    """Every project of the repository at ``root``, by name."""
    return {p.name: load_project(p) for p in project_dirs(root)}
