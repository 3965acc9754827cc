"""The shared YAML reader: positions on every value, and hostile input refused in one line."""

from __future__ import annotations

import resource
import time

import pytest

from runner.yamlpos import MAX_DEPTH, PosDict, PosList, YamlFault, parse


def fault(text: str, **limits: int) -> tuple[tuple[int, int] | None, str]:
    with pytest.raises(YamlFault) as info:
        parse(text, **limits)
    return info.value.mark, info.value.message


def test_positions_of_mappings_keys_values_and_items() -> None:
    parsed = parse("a:\n  b: 1\n  c: [x, {d: 2.5}]\n")
    data = parsed.data
    assert data == {"a": {"b": 1, "c": ["x", {"d": 2.5}]}}
    assert isinstance(data, PosDict) and isinstance(data["a"]["c"], PosList)
    assert parsed.mark == (1, 1)
    assert data["a"].key_pos["c"] == (3, 3) and data["a"].val_pos["c"] == (3, 6)
    assert data["a"]["c"].item_pos == [(3, 7), (3, 10)]
    assert parsed.plain


def test_scalars_are_what_safe_load_gives() -> None:
    import yaml

    text = "i: 7\nf: 1e3\nb: yes\nn: ~\ns: '7'\nd: 2024-01-02\nh: 0x1f\n"
    parsed = parse(text)
    assert parsed.data == yaml.safe_load(text)
    assert not parsed.plain  # a date is not JSON: such files are not cached as JSON


def test_empty_document_is_none() -> None:
    assert parse("# nothing\n").data is None


def test_duplicate_keys_are_collected_and_the_last_wins() -> None:
    parsed = parse("a: 1\nb: 2\na: 3\n")
    assert parsed.data == {"a": 3, "b": 2}
    assert [(d.mark, d.message, d.path) for d in parsed.duplicates] == [
        ((3, 1), "duplicate key 'a' (first at line 1)", ("a",))
    ]


def test_alias_bomb_is_refused_fast_and_small() -> None:
    # The 350-byte "billion laughs" of issue 13: 9**9 strings once constructed.
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, 9):
        prev = "a" if i == 1 else f"l{i - 1}"
        lines.append(f"l{i}: &l{i} [" + ",".join([f"*{prev}"] * 9) + "]")
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    assert fault("\n".join(lines)) == ((2, 10), "YAML aliases are not allowed (*a): "
                                                "write the value out")
    assert time.perf_counter() - start < 1.0
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 50_000  # KiB


def test_recursive_alias_is_a_fault_not_a_recursion_error() -> None:
    assert fault("&a [*a]") == ((1, 5), "YAML aliases are not allowed (*a): write the value out")


def test_depth_nodes_and_size_are_capped() -> None:
    deep = "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1)
    assert fault(deep)[1] == f"nested deeper than {MAX_DEPTH} levels"
    assert fault("[" * 5000 + "]" * 5000)[1].startswith("YAML syntax error")  # libyaml's cap
    assert fault("[1, 2, 3, 4]", max_nodes=3)[1] == "more than 3 values; refusing to read further"
    assert fault("a: " + "x" * 100, max_bytes=50)[1] == (
        "file is larger than 50 bytes; refusing to parse it")


def test_tags_beyond_plain_yaml_are_refused() -> None:
    mark, message = fault('x: !!python/object/apply:os.system ["true"]\n')
    assert mark == (1, 4)
    assert message == ("YAML tag not allowed: could not determine a constructor for the tag "
                       "'tag:yaml.org,2002:python/object/apply:os.system'")
    assert fault("x: !!set {a, b}\n")[0] == (1, 4)
    assert fault("x: !!int abc\n") == ((1, 4), "not a valid !!int: 'abc'")


def test_syntax_errors_use_the_python_parsers_words() -> None:
    mark, message = fault("a: {b: 1\nc: 2\n")
    assert mark == (2, 2)
    assert message.startswith("YAML syntax error: expected ',' or '}', but got ':'")


@pytest.mark.parametrize("text", ["0", "7", "-3", "+4", "012", "0x1f", "1_000", "1:30", "0.5",
                                  "-.5", "1.5e+3", "2.", ".inf", "-.Inf", ".nan", "1_0.5",
                                  "6:30.5", "true", "Off", "~", "null", "2024-01-02"])
def test_numbers_match_safe_load_exactly(text: str) -> None:
    import math

    import yaml

    want = yaml.safe_load(f"v: {text}")["v"]
    got = parse(f"v: {text}").data["v"]
    assert type(got) is type(want)
    assert got == want or (isinstance(want, float) and math.isnan(want) and math.isnan(got))


MUTATIONS = [*":-[]{}&*!|>'\"#,?% \n\t\\x0", "!!int ", "!!float ", "!!bool ", "!!null ",
             "!!binary ", "!!timestamp ", "!!set ", "!!omap ", "!!map ", "!!seq ", "? ", "<<: ",
             "&a ", "*a", "\ud800", "\x00", "\x07", "\ufeff", "---\n", "...\n", "%YAML 1.1\n",
             "!!python/name:os.system ", "!foo ", "''"]


@pytest.mark.parametrize("source", ["specs/services/bankchurn.yaml", "specs/platform.yaml",
                                    "playbooks/deploy.yaml"])
def test_mutated_files_end_in_data_or_a_one_line_fault(source: str) -> None:
    import random
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / source
    if not path.is_file():
        pytest.skip(f"{source} is not in this checkout")
    base = path.read_text()
    rng = random.Random(source)
    outcomes = {"data": 0, "fault": 0}
    for _ in range(3000):
        text = list(base)
        for _ in range(rng.randint(1, 6)):
            at = rng.randrange(len(text))
            op = rng.random()
            if op < 0.4:
                text.insert(at, rng.choice(MUTATIONS))
            elif op < 0.7:
                del text[at]
            else:
                text[at] = rng.choice(MUTATIONS)
        try:
            parse("".join(text))
            outcomes["data"] += 1
        except YamlFault as exc:  # anything else fails the test with its traceback
            assert "\n" not in exc.message, exc.message
            outcomes["fault"] += 1
    assert outcomes["data"] and outcomes["fault"], outcomes


def test_control_characters_and_surrogates_are_one_line_faults() -> None:
    assert fault("a: 1\nb: x\x00y\n") == ((2, 5), "YAML syntax error: character #x0000 is not "
                                                  "allowed")
    assert fault("a: \ud800\n")[1].startswith("not valid UTF-8 text")
