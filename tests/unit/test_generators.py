"""Generators are deterministic and match the data contract; validation names bad columns."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import numpy as np
import pandas as pd
import pytest

from runner.errors import DataValidationError
from runner.ml.data_validation import validate_csv, validate_frame
from runner.ml.project import load_projects

ROOT = Path(__file__).resolve().parents[2]
SCHEMAS = {name: p.contract for name, p in load_projects(ROOT).items()}
get_schema = SCHEMAS.__getitem__
ROWS = {"bankchurn": 3000, "carvision": 4000, "telecom": 2000}


def generator(project: str) -> ModuleType:
    path = ROOT / "projects" / project / "generate.py"
    spec = importlib.util.spec_from_file_location(f"generate_{project}", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module", params=sorted(SCHEMAS))
def project(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="module")
def frame(project: str) -> pd.DataFrame:
    return generator(project).generate(ROWS[project], 7)


def test_same_seed_same_bytes_other_seed_other_data(project: str, tmp_path: Path) -> None:
    gen = generator(project)
    first, second, other = tmp_path / "a.csv", tmp_path / "b.csv", tmp_path / "c.csv"
    gen.main(["--rows", "500", "--seed", "3", "--out", str(first)])
    gen.main(["--rows", "500", "--seed", "3", "--out", str(second)])
    gen.main(["--rows", "500", "--seed", "4", "--out", str(other)])
    assert first.read_bytes() == second.read_bytes()
    assert first.read_bytes() != other.read_bytes()
    assert len(pd.read_csv(first)) == 500


def test_generated_data_passes_the_contract(project: str, frame: pd.DataFrame) -> None:
    schema = get_schema(project)
    clean = validate_frame(frame, schema)
    assert list(clean.columns) == [*schema.feature_names, schema.target.name]
    assert len(clean) == ROWS[project]


def test_drifted_data_still_valid_but_different(project: str, frame: pd.DataFrame) -> None:
    schema = get_schema(project)
    shifted = generator(project).generate(ROWS[project], 7, shift=1.0)
    validate_frame(shifted, schema)
    numeric = [c.name for c in schema.features if c.kind in ("int", "float")]
    moved = [c for c in numeric if abs(shifted[c].mean() - frame[c].mean()) > 0.1 * frame[c].std()]
    assert moved, "shift=1 should move at least one numeric column"


@pytest.mark.parametrize(("project_name", "low", "high"), [
    ("bankchurn", 0.15, 0.25), ("telecom", 0.25, 0.38),
])
def test_class_balance(project_name: str, low: float, high: float) -> None:
    schema = get_schema(project_name)
    data = generator(project_name).generate(ROWS[project_name], 11)
    assert low <= data[schema.target.name].mean() <= high


def test_real_data_defects_are_present() -> None:
    churn = generator("bankchurn").generate(5000, 1)
    assert 0.06 < churn["Tenure"].isna().mean() < 0.12
    assert 0.25 < (churn["Balance"] == 0).mean() < 0.45
    cars = generator("carvision").generate(5000, 1)
    for col in ("model_year", "cylinders", "odometer", "paint_color", "is_4wd"):
        assert cars[col].isna().any(), col
    assert set(cars["is_4wd"].dropna().unique()) == {1.0}
    assert cars["price"].skew() > 1  # right-skewed prices
    assert cars["model"].str.split().str[0].nunique() > 10


# ------------------------------------------------------------------ validation errors


def bankchurn_frame() -> pd.DataFrame:
    return generator("bankchurn").generate(300, 5)


def problem(df: pd.DataFrame, project: str = "bankchurn") -> DataValidationError:
    with pytest.raises(DataValidationError) as info:
        validate_frame(df, get_schema(project), source="Churn.csv")
    return info.value


def test_missing_column_is_named() -> None:
    err = problem(bankchurn_frame().drop(columns=["Geography"]))
    assert err.field == "Geography"
    assert "missing column(s): Geography" in err.one_line()
    assert err.one_line().startswith("Churn.csv Geography:")


def test_out_of_range_value_is_named_with_example() -> None:
    df = bankchurn_frame()
    df.loc[3, "CreditScore"] = 1200
    err = problem(df)
    assert err.field == "CreditScore"
    assert "1 value(s) outside [300, 850], e.g. 1200" in err.one_line()


def test_every_bad_column_is_reported() -> None:
    df = bankchurn_frame()
    df["Geography"] = df["Geography"].astype(object)
    df.loc[0, "Geography"] = "Atlantis"
    df["Age"] = df["Age"].astype(object)
    df.loc[1, "Age"] = "forty"
    df["NumOfProducts"] = df["NumOfProducts"].astype(float)
    df.loc[2, "NumOfProducts"] = 2.5
    df.loc[:, "Gender"] = None
    err = problem(df)
    assert err.field is None
    text = err.one_line()
    assert text.startswith("Churn.csv: ")
    assert "Geography: 1 value(s) not in the allowed categories" in text
    assert "'Atlantis'" in text
    assert "Age: 1 value(s) are not numbers, e.g. 'forty'" in text
    assert "NumOfProducts: 1 value(s) are not whole numbers" in text
    assert "Gender: 300 empty value(s) (100.0%), none allowed" in text


def test_too_many_gaps_in_a_nullable_column() -> None:
    df = bankchurn_frame()
    df["Tenure"] = 5.0
    df.loc[df.index[:200], "Tenure"] = np.nan
    text = problem(df).one_line()
    assert "Churn.csv Tenure: 200 empty value(s) (66.7%), at most 50% allowed" in text


def test_single_class_target_is_refused() -> None:
    df = bankchurn_frame()
    df["Exited"] = 0
    err = problem(df)
    assert err.field == "Exited"
    assert "only one class" in err.one_line()


def test_bad_date_is_named() -> None:
    df = generator("carvision").generate(200, 5)
    df.loc[4, "date_posted"] = "29/11/2026"
    err = problem(df, "carvision")
    assert err.field == "date_posted"
    assert "not dates YYYY-MM-DD, e.g. '29/11/2026'" in err.one_line()


def test_public_file_quirks_are_accepted(tmp_path: Path) -> None:
    """The public vehicles_us.csv writes years as 2011.0, 4wd as 1.0/empty, has blank cells."""
    df = generator("carvision").generate(300, 9)
    df["model_year"] = df["model_year"].map(lambda v: f"{v:.1f}" if v == v else "")
    df["paint_color"] = df["paint_color"].fillna("")
    df["extra_column"] = "ignored"
    path = tmp_path / "vehicles_us.csv"
    df.to_csv(path, index=False)
    clean = validate_csv(path, get_schema("carvision"))
    assert "extra_column" not in clean.columns
    assert clean["model_year"].dropna().between(1900, 2030).all()
    assert clean["paint_color"].isna().sum() == (df["paint_color"] == "").sum()


def test_unreadable_file_is_one_error(tmp_path: Path) -> None:
    with pytest.raises(DataValidationError, match="file not found"):
        validate_csv(tmp_path / "absent.csv", get_schema("telecom"))
