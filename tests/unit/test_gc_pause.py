"""The cyclic GC pause nests and always restores what it found."""

from __future__ import annotations

import gc

import pytest

from runner.gc_pause import gc_paused


def test_nested_pauses_turn_it_back_on_only_at_the_outermost() -> None:
    assert gc.isenabled()
    with gc_paused():
        with gc_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # the inner block found it off and leaves it off
    assert gc.isenabled()


def test_an_error_inside_still_restores_it() -> None:
    with pytest.raises(ValueError), gc_paused():
        raise ValueError("boom")
    assert gc.isenabled()


def test_a_gc_someone_else_turned_off_stays_off() -> None:
    gc.disable()
    try:
        with gc_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()
