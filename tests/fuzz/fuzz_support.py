"""What the fuzz tests share: the case budget, input strategies, and the "no traceback" check.

The budget is a hypothesis ``settings`` object chosen by ``MLGITOPS_FUZZ``: a few hundred
cases per target in the normal suite (derandomized, so CI is stable), 10,000 with
``MLGITOPS_FUZZ=full`` (fresh random inputs each run; ``bash bench/fuzz.sh`` runs that), or
any number with ``MLGITOPS_FUZZ=<n>``. It is applied per test, not as a global profile,
so property tests elsewhere keep hypothesis' own defaults.
"""

from __future__ import annotations

import logging
import os
import string
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

CI_CASES = 300
FULL_CASES = 10_000


def case_budget() -> int:
    """Cases per target: MLGITOPS_FUZZ=full -> 10,000, =<n> -> n, unset -> CI_CASES."""
    raw = os.environ.get("MLGITOPS_FUZZ", "").strip().lower()
    if raw == "full":
        return FULL_CASES
    if raw.isdigit() and int(raw) > 0:
        return int(raw)
    return CI_CASES


def fuzz_settings(scale: float = 1.0, full_scale: float = 1.0) -> settings:
    """Hypothesis settings for one target; ``scale`` trims slow targets in the CI budget,
    ``full_scale`` in a full run (for repeats of a target by a slower route)."""
    budget = case_budget()
    full = bool(os.environ.get("MLGITOPS_FUZZ", "").strip())
    examples = max(50, int(budget * (full_scale if full else scale)))
    return settings(
        max_examples=examples,
        deadline=None,  # the machine is shared: a slow case is not a failure
        derandomize=not full,
        database=None,  # nothing written into the checkout; failures print their input
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                               HealthCheck.filter_too_much],
        print_blob=True,
    )


# ------------------------------------------------------------------ JSON values


def _texts() -> st.SearchStrategy[str]:
    # Surrogates included on purpose: a lone "\ud800" once turned a 422 into a 500.
    return st.one_of(
        st.text(max_size=30),
        st.text(alphabet=st.characters(exclude_categories=()), max_size=10),
        st.sampled_from(["", " ", "\ud800", "a\udfff", "\x00", "NaN", "1e999", "../../etc",
                         "{{ 7*7 }}", "Bearer x", "\u202e", "🙂" * 3]),
    )


def json_scalars() -> st.SearchStrategy[Any]:
    return st.one_of(
        st.none(), st.booleans(),
        st.integers(), st.integers(min_value=-(10**400), max_value=10**400),
        st.floats(allow_nan=True, allow_infinity=True),
        st.sampled_from([0, -1, 1, 2**31, 2**63, -(2**63) - 1, 1e308, -0.0, 0.5, 1.0]),
        _texts(),
    )


def json_values(max_leaves: int = 20) -> st.SearchStrategy[Any]:
    """Any JSON-like value (plus NaN, Infinity and lone surrogates, which JSON forbids)."""
    return st.recursive(
        json_scalars(),
        lambda inner: st.one_of(
            st.lists(inner, max_size=5),
            st.dictionaries(_texts(), inner, max_size=5),
        ),
        max_leaves=max_leaves,
    )


def mutated_record(base: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    """A valid record with some fields dropped, replaced by any JSON value, or added."""
    keys = sorted(base)

    @st.composite
    def build(draw: st.DrawFn) -> dict[str, Any]:
        record = dict(base)
        for key in draw(st.lists(st.sampled_from(keys), max_size=3, unique=True)):
            action = draw(st.sampled_from(["drop", "replace", "replace", "edge"]))
            if action == "drop":
                record.pop(key, None)
            elif action == "replace":
                record[key] = draw(json_values(5))
            else:
                record[key] = draw(st.sampled_from(
                    [None, 0, -1, 10**9, -(10**9), 1e-300, 1e300, "", "x" * 500, True, [], {}]))
        for key, value in draw(st.dictionaries(_texts(), json_values(3), max_size=2)).items():
            record[key] = value
        return record

    return build()


def valid_record(schema: Any) -> st.SearchStrategy[dict[str, Any]]:
    """A record the contract accepts, pushed to its edges (bounds, gaps, odd text, dates):
    these are the inputs that reach the fitted model."""
    fields: dict[str, st.SearchStrategy[Any]] = {}
    for col in schema.features:
        if col.kind in ("int", "binary"):
            lo, hi = int(col.min if col.min is not None else -(10**6)), int(
                col.max if col.max is not None else 10**6)
            value: st.SearchStrategy[Any] = st.one_of(
                st.integers(lo, hi), st.sampled_from([lo, hi]), st.sampled_from([float(lo)]))
        elif col.kind == "float":
            lo_f = float(col.min) if col.min is not None else -1e300
            hi_f = float(col.max) if col.max is not None else 1e300
            value = st.one_of(st.floats(lo_f, hi_f, allow_nan=False), st.sampled_from([lo_f, hi_f]),
                              st.integers(int(lo_f), int(hi_f)))
        elif col.kind == "category":
            value = st.sampled_from(list(col.categories or ("x",)))
        elif col.kind == "date":
            value = st.dates().map(lambda d: d.isoformat())
        else:
            value = st.text(st.characters(exclude_categories=("Cs",)), min_size=1, max_size=200)
        fields[col.name] = st.one_of(st.none(), value) if col.nullable else value
    return st.fixed_dictionaries(fields)


def raw_bodies() -> st.SearchStrategy[bytes]:
    """Bytes that are almost JSON: random, truncated, doubly encoded, constants, deep."""
    return st.one_of(
        st.binary(max_size=200),
        st.text(alphabet=string.printable, max_size=80).map(str.encode),
        st.sampled_from([b"", b"{", b"[", b"null", b"NaN", b"-Infinity", b"{\"a\":NaN}",
                         b"\xff\xfe{}", b"[" * 5000 + b"]" * 5000, b"{\"a\":1}{\"b\":2}",
                         b"\"\\ud800\"", b"1" * 5000, b"{\"records\":" + b"[" * 2000]),
    )


# ------------------------------------------------------------------ checks


class LogWatch(logging.Handler):
    """Collects records that carry a traceback or are ERROR and above, from every logger."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.bad: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info or record.levelno >= logging.ERROR:
            self.bad.append(record)

    def describe(self) -> str:
        return "\n".join(f"{r.name} {r.levelname}: {r.getMessage()}" for r in self.bad[:5])


@contextmanager
def watch_logs() -> Iterator[LogWatch]:
    root = logging.getLogger()
    handler = LogWatch()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(min(old_level or logging.WARNING, logging.WARNING))
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)


def assert_one_line(message: str) -> None:
    """A user-facing error: non-empty, one line, no traceback, no Python object repr."""
    assert message.strip(), "empty error message"
    assert "\n" not in message, f"more than one line: {message!r}"
    assert "Traceback" not in message, message
    message.encode("utf-8")  # printable on any terminal: no lone surrogate left in it
