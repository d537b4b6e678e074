"""`Bars.cached`: one computation per bars object and arguments, never a wrong hit, never shared with a
prefix (the look-ahead check relies on that)."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from auraquant.cta.strategy import bars as bars_mod
from auraquant.cta.strategy.bars import bars_from_frame
from auraquant.cta.strategy.indicators import crossings, ema
from tests.support.random_specs import random_bars


@pytest.fixture
def bars():
    return bars_from_frame(random_bars(np.random.default_rng(1), 300))


def _counting(fn):
    calls = []

    def wrapped(*args):
        calls.append(args)
        return fn(*args)
    return wrapped, calls


def test_same_function_and_arguments_compute_once(bars) -> None:
    fn, calls = _counting(ema)
    a = bars.cached(fn, bars.close, 10)
    b = bars.cached(fn, bars.close, 10)
    assert a is b and len(calls) == 1
    assert np.array_equal(a, ema(bars.close, 10), equal_nan=True)
    assert not a.flags.writeable  # shared between callers: nobody may modify it
    with pytest.raises(ValueError):
        a[0] = 1.0


def test_different_arguments_columns_and_functions_are_distinct_entries(bars) -> None:
    fn, calls = _counting(np.multiply)
    bars.cached(fn, bars.close, 10)
    bars.cached(fn, bars.close, 11)
    bars.cached(fn, bars.open, 10)
    bars.cached(fn, bars.close, 10.0)  # a float argument is another key than the equal int
    other, other_calls = _counting(np.add)
    bars.cached(other, bars.close, 10)
    assert len(calls) == 4 and len(other_calls) == 1
    assert bars.cached(crossings, bars.open, bars.close).dtype == np.int8


def test_foreign_arrays_are_never_cached(bars) -> None:
    fn, calls = _counting(ema)
    copy = bars.close.copy()
    bars.cached(fn, copy, 10)
    copy[:] = 1.0  # the same object now holds other values: a cache keyed on it would go stale
    assert np.array_equal(bars.cached(fn, copy, 10)[20:], np.ones(280))
    assert len(calls) == 2


def test_a_prefix_has_its_own_cache(bars) -> None:
    fn, calls = _counting(ema)
    full = bars.cached(fn, bars.close, 10)
    head = bars.head(100)
    part = head.cached(fn, head.close, 10)
    assert len(calls) == 2 and part.shape == (100,) and full.shape == (300,)


def test_cache_stops_growing_at_its_byte_cap(bars, monkeypatch) -> None:
    monkeypatch.setattr(bars_mod, "CACHE_BYTES", 2 * 300 * 8)
    fn, calls = _counting(ema)
    for period in (5, 6, 7):
        bars.cached(fn, bars.close, period)
    bars.cached(fn, bars.close, 7)  # the third did not fit: computed again, and still right
    assert len(calls) == 4
    assert np.array_equal(bars.cached(fn, bars.close, 7), ema(bars.close, 7), equal_nan=True)


def test_bars_pickle_without_their_cache(bars) -> None:
    bars.cached(ema, bars.close, 10)
    copy = pickle.loads(pickle.dumps(bars))
    assert copy._cache == {} and np.array_equal(copy.close, bars.close) and copy.bar_ns == bars.bar_ns
    assert len(bars._cache) == 1
