"""`Bars`: the immutable array view of OHLCV bars that every strategy module and the kernel read.

Semantics: row i is the bar that *opens* at `time_ns[i]` (UTC nanoseconds) and closes at
`time_ns[i] + bar_ns`. A value a module computes at row i may use rows 0..i only (the bar is closed
when the decision is made); the look-ahead check in `auraquant.cta.backtest.lookahead` enforces this.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

REQUIRED_COLUMNS = ("time", "open", "high", "low", "close", "volume")
_NS_PER_DAY = 86_400_000_000_000
_COLUMNS = ("time_ns", "open", "high", "low", "close", "volume")
# Cached indicator arrays per Bars stop growing past this (a sweep over 1,000 EMA periods of 50k bars
# would otherwise hold 400 MB); later results are computed and returned uncached.
CACHE_BYTES = 256 * 2**20


@dataclass(frozen=True, eq=False)
class Bars:
    """Contiguous float64 OHLCV arrays plus int64 UTC open times (ns) and the nominal bar length."""

    time_ns: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    bar_ns: int
    _cache: dict[Any, np.ndarray] = field(default_factory=dict, init=False, repr=False)

    def __getstate__(self) -> dict[str, Any]:
        # A pickled copy (a Dask task, a process pool) starts with an empty cache.
        return {**self.__dict__, "_cache": {}}

    def cached(self, fn: Callable[..., np.ndarray], *args: Any) -> np.ndarray:
        """`fn(*args)`, computed once per Bars object for the same function and arguments.

        For pure functions of the bars (indicators): a sweep over (fast, slow) EMA pairs then computes
        each EMA period once instead of once per pair. Array arguments must be columns of these bars
        (`bars.close`, ...); any other array, or an unhashable argument, is computed without caching,
        so a wrong cache hit is impossible. A cached result is read-only (it is shared between
        callers); past `CACHE_BYTES` results are returned uncached. Prefixes (`head`) are new objects with their own cache: nothing computed on the full bars
        leaks into a look-ahead check.
        """
        key_args = []
        for a in args:
            if isinstance(a, np.ndarray):
                name = next((c for c in _COLUMNS if getattr(self, c) is a), None)
                if name is None:
                    return fn(*args)
                key_args.append(("column", name))
            elif isinstance(a, bool | int | float | str | None):
                key_args.append((type(a).__name__, a))
            else:
                return fn(*args)
        key = (fn, tuple(key_args))
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        out = np.asarray(fn(*args))
        # Threads may race here (prepare computes modules in a pool): both compute the same pure value,
        # setdefault keeps one, and the cap may be passed by one entry at most per racing thread.
        # list() snapshots the values in one C call: iterating the live view while another thread
        # inserts raises "dictionary changed size during iteration".
        if sum(v.nbytes for v in list(self._cache.values())) + out.nbytes <= CACHE_BYTES:
            out.flags.writeable = False
            return self._cache.setdefault(key, out)
        return out

    def __len__(self) -> int:
        return int(self.close.shape[0])

    def bars_per_day(self) -> float:
        """Nominal bars per calendar day (24 for 1h bars): the unit converter for annualizing per-bar stats."""
        return _NS_PER_DAY / self.bar_ns

    def learned_probability(self, model_key: int) -> np.ndarray:
        """P(up) per bar from the learned model registered under `model_key` (`strategy.learned`): fitted
        on earlier bars only and computed from closed bars; NaN during its warm-up. Cached per Bars."""

        return self.cached(_learned_probability, int(model_key), self.time_ns, self.open, self.high, self.low,
                           self.close, self.volume, self.bar_ns)

    def head(self, n: int) -> Bars:
        """The first `n` bars (a prefix: what a live system would have seen after bar n-1 closed)."""
        return Bars(self.time_ns[:n], self.open[:n], self.high[:n], self.low[:n], self.close[:n],
                    self.volume[:n], self.bar_ns)


def _learned_probability(key: int, time_ns: np.ndarray, o: np.ndarray, h: np.ndarray, lo: np.ndarray,
                         c: np.ndarray, v: np.ndarray, bar_ns: int) -> np.ndarray:
    from auraquant.cta.strategy import learned

    return learned.predict(key, Bars(time_ns, o, h, lo, c, v, bar_ns))


def bars_from_frame(frame: pd.DataFrame) -> Bars:
    """Validate a bars DataFrame (time tz-aware UTC bar open, open, high, low, close, volume) into `Bars`.

    Raises ValueError on missing columns, a naive or non-UTC time column, non-increasing times, NaN
    prices or high/low that do not bracket open and close. Rows are never dropped silently.
    """
    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"bars are missing columns {missing}")
    if len(frame) < 2:
        raise ValueError("need at least 2 bars")
    t = frame["time"]
    if not isinstance(t.dtype, pd.DatetimeTZDtype) or str(t.dt.tz) != "UTC":
        raise ValueError("bars.time must be a tz-aware UTC datetime column (bar open time)")
    time_ns = np.asarray(t.dt.as_unit("ns").array.asi8, dtype=np.int64).copy()
    diffs = np.diff(time_ns)
    if np.any(diffs <= 0):
        raise ValueError(f"bars.time is not strictly increasing at row {int(np.argmax(diffs <= 0)) + 1}")
    cols = {c: np.ascontiguousarray(frame[c].to_numpy(dtype=np.float64)) for c in REQUIRED_COLUMNS[1:]}
    prices = np.vstack([cols["open"], cols["high"], cols["low"], cols["close"]])
    if not np.all(np.isfinite(prices)):
        raise ValueError("bars contain NaN or infinite prices")
    bad = (cols["high"] < np.maximum(cols["open"], cols["close"])) | (
        cols["low"] > np.minimum(cols["open"], cols["close"]))
    if np.any(bad):
        raise ValueError(f"high/low do not bracket open/close at row {int(np.argmax(bad))}")
    # The modal spacing is the nominal bar length; outages (missing bars) only create larger gaps.
    values, counts = np.unique(diffs, return_counts=True)
    bar_ns = int(values[np.argmax(counts)])
    return Bars(time_ns, cols["open"], cols["high"], cols["low"], cols["close"], cols["volume"], bar_ns)
