"""docs/architecture.md stays true: the request walk names files that exist, in at most
eight steps, and the layer table lists the same rows as the import-linter contract."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "architecture.md").read_text()


def _section(title: str) -> str:
    start = DOC.index(f"## {title}")
    end = DOC.find("\n## ", start + 1)
    return DOC[start:end if end > 0 else None]


def test_request_walk_is_at_most_eight_steps_of_existing_files() -> None:
    steps = re.findall(r"^(\d+)\. `([^`]+)`", _section("One request"), re.MULTILINE)
    assert 1 <= len(steps) <= 8
    assert [int(n) for n, _ in steps] == list(range(1, len(steps) + 1))
    missing = [path for _, path in steps if not (ROOT / path).is_file()]
    assert not missing, f"steps name files that do not exist: {missing}"


def test_layer_table_matches_the_import_contract() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    (stack,) = [c for c in config["contracts"] if c["type"] == "layers"]
    contract_rows = [sorted(p.strip() for p in row.split("|")) for row in stack["layers"]]
    doc_rows = [sorted(re.findall(r"`(runner\.[a-z_.]+)`", cells))
                for cells in re.findall(r"^\| \d+ \| ([^|]+) \|", _section("Layers"),
                                        re.MULTILINE)]
    assert doc_rows == contract_rows


def test_no_two_runner_files_share_a_name() -> None:
    """A file name says what it holds without its folder (``__init__``/``__main__`` aside)."""
    seen: dict[str, list[str]] = {}
    for path in (ROOT / "runner").rglob("*.py"):
        if path.name not in ("__init__.py", "__main__.py"):
            seen.setdefault(path.name, []).append(str(path.relative_to(ROOT)))
    assert {name: where for name, where in seen.items() if len(where) > 1} == {}
