"""The broken-spec corpus: every case is rejected with exactly its expected lines.

Each case runs through the library; cases marked ``cli: true`` also run through the
real ``.venv/bin/inv validate`` in a copy of the tree (exit 1, stderr only, no traceback).
Nothing may be written to ``generated/`` in either path.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from runner.errors import SpecError
from runner.spec import load_platform

# A case is one YAML file under tests/specs_broken/: ``files`` (path -> full content that
# replaces or adds a file in the good tree), optional ``delete``, ``env`` (default dev),
# ``cli`` (also run through the real ``.venv/bin/inv``) and the exact ``expected`` lines.
REPO = Path(__file__).resolve().parents[2]
CORPUS = REPO / "tests" / "specs_broken"
SERVICES = ("bankchurn", "carvision", "telecom")


def cases() -> list[Path]:
    return sorted(CORPUS.glob("*.yaml"))


def load_case(path: Path) -> dict[str, Any]:
    case: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    return case


def good_tree(dest: Path) -> Path:
    """A copy of the committed specs plus empty project dirs and tasks.py."""
    shutil.copytree(REPO / "specs", dest / "specs")
    for name in SERVICES:
        fixtures = dest / "projects" / name / "tests" / "fixtures"
        fixtures.mkdir(parents=True)
        (fixtures / "sample_request.json").write_text("{}\n", encoding="utf-8")
    shutil.copy(REPO / "tasks.py", dest / "tasks.py")
    return dest


def apply_case(root: Path, case: dict[str, Any]) -> None:
    for rel in case.get("delete") or []:
        (root / rel).unlink()
    for rel, content in (case.get("files") or {}).items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content, encoding="utf-8")


CASES = cases()
CLI_CASES = [p for p in CASES if load_case(p).get("cli")]
LINE = re.compile(r"^specs/\S+?(:\d+:\d+)?( \S+)?: \S.*$")


def test_corpus_is_big_enough_and_well_formed() -> None:
    assert len(CASES) >= 25
    assert len(CLI_CASES) >= 3
    for path in CASES:
        case = load_case(path)
        assert set(case) <= {"description", "env", "cli", "files", "delete", "expected"}, path
        assert case["description"], path
        assert case["expected"], path
        for line in case["expected"]:
            assert LINE.match(line), f"{path.name}: {line!r} is not file:line:col field: message"


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_case_rejected_with_expected_lines(path: Path, tmp_path: Path) -> None:
    case = load_case(path)
    root = good_tree(tmp_path)
    apply_case(root, case)
    with pytest.raises(SpecError) as info:
        load_platform(root, case.get("env", "dev"))
    assert info.value.exit_code == 1
    assert info.value.one_line().splitlines() == case["expected"]
    assert [p.one_line() for p in info.value.problems] == case["expected"]
    assert not (root / "generated").exists()


def _inv(root: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if k not in ("MLGITOPS_ROOT", "MLGITOPS_DEBUG")}
    environ.update(env)
    return subprocess.run(
        [str(REPO / ".venv" / "bin" / "inv"), *args],
        cwd=root,
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("path", CLI_CASES, ids=[p.stem for p in CLI_CASES])
def test_case_through_real_inv(path: Path, tmp_path: Path) -> None:
    case = load_case(path)
    root = good_tree(tmp_path)
    apply_case(root, case)
    result = _inv(root, "validate", "--env", case.get("env", "dev"))
    assert result.returncode == 1, result.stderr
    assert result.stdout == ""
    assert result.stderr.splitlines() == case["expected"]
    assert "Traceback" not in result.stderr
    assert not (root / "generated").exists()


def test_good_tree_through_real_inv(tmp_path: Path) -> None:
    root = good_tree(tmp_path)
    result = _inv(root, "validate", "--env", "staging")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "ok: 3 services, environment staging\n"
    assert result.stderr == ""


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    root = good_tree(tmp_path)
    apply_case(root, load_case(CASES[0]))
    result = _inv(root, "validate", MLGITOPS_DEBUG="1")
    assert result.returncode == 1
    assert "Traceback" in result.stderr
    assert result.stderr.splitlines()[-1] == load_case(CASES[0])["expected"][-1]
