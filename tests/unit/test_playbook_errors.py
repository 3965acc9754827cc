"""Broken playbooks fail before anything runs, naming file, line, column and field.

One fixture per case under tests/unit/playbooks/errors/: its first line says the expected
error (``# error: LINE:COL field: message``, or ``# error: other.yaml:LINE:COL ...`` when
the problem is in an included file). Every case's first task would write a marker file:
the marker must not exist afterwards.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from runner.errors import PlaybookError
from runner.playbook import run_playbook
from runner.playbook.playbook_loader import display_path

CASES = Path(__file__).parent / "playbooks" / "errors"
FILES = sorted(p for p in CASES.glob("*.yaml") if p.read_text().startswith("# error:"))


def expected_error(path: Path) -> str:
    head = path.read_text().splitlines()[0].removeprefix("# error:").strip()
    if head[0].isdigit():
        return f"{display_path(path)}:{head}"
    other, _, rest = head.partition(":")
    return f"{display_path(path.parent / other)}:{rest}"


def test_every_case_is_collected() -> None:
    assert len(FILES) >= 12


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_broken_playbook_fails_before_running(path: Path, tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    with pytest.raises(PlaybookError) as info:
        run_playbook(path, {"marker": str(marker)}, output=None, state_dir=tmp_path,
                     root=tmp_path)
    message = info.value.one_line()
    assert "\n" not in message
    assert message.startswith(expected_error(path)), message
    assert not marker.exists()
    assert not (tmp_path / "runs").exists(), "no event log: nothing ran"


def test_unknown_module_lists_choices(tmp_path: Path) -> None:
    with pytest.raises(PlaybookError) as info:
        run_playbook(CASES / "no_module.yaml", {"marker": "x"}, output=None, root=tmp_path,
                     state_dir=tmp_path)
    assert "command" in info.value.one_line() and "template" in info.value.one_line()


def test_missing_playbook_names_the_available_ones(tmp_path: Path) -> None:
    from runner.playbook import resolve_playbook

    (tmp_path / "playbooks").mkdir()
    (tmp_path / "playbooks" / "deploy.yaml").write_text("- tasks: []\n")
    assert resolve_playbook("deploy", tmp_path) == tmp_path / "playbooks" / "deploy.yaml"
    with pytest.raises(PlaybookError, match="no playbook 'deplyo'.*available: deploy"):
        resolve_playbook("deplyo", tmp_path)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["n=3", "name=bankchurn"], {"n": 3, "name": "bankchurn"}),
        (["v=0123", "f=1.5", "b=true"], {"v": "0123", "f": 1.5, "b": True}),
        (['{"a": [1, 2]}'], {"a": [1, 2]}),
        (["url=http://x/?a=b"], {"url": "http://x/?a=b"}),
    ],
)
def test_extra_vars_parsing(args: list[str], expected: dict[str, object]) -> None:
    from runner.playbook import parse_extra_vars

    assert parse_extra_vars(args) == expected


@pytest.mark.parametrize("bad", ["novalue", "1x=2", "{not json"])
def test_extra_vars_rejects(bad: str) -> None:
    from runner.playbook import parse_extra_vars

    with pytest.raises(PlaybookError):
        parse_extra_vars([bad])
