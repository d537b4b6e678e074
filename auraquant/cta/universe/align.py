"""The common calendar of a universe: the union of the members' bar times plus an availability mask.

Rules (the whole module is these):
- The calendar is the sorted union of every member's bar open times; each member keeps only its own bars
  (`AlignedUniverse.bars[i]`, in time order, nothing inserted). A bar missing on one member (an exchange
  outage, a listing after the start, a delisting before the end) is `mask[i, t] == False`.
- A missing bar is never filled into a price: `prices()` has NaN there. Engines run each member on its
  own bars only, so a missing bar cannot produce a signal, a fill or a return on that member; a position
  held across a gap is marked at the last close seen, and its move over the gap is booked at the next bar
  the member actually has.
- Listing and delisting: `first[i]`/`last[i]` are the calendar positions of a member's first and last bar.
  Before its first bar a member does not exist; after its last bar it is delisted (a portfolio closes its
  sleeve at that last close, `auraquant.cta.backtest.portfolio`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from auraquant.cta.strategy.bars import Bars, bars_from_frame


@dataclass(frozen=True, eq=False)
class AlignedUniverse:
    """Members' own bars on a shared calendar. Index i is the member, t the calendar position."""

    symbols: tuple[str, ...]
    times_ns: np.ndarray          # int64 union calendar (bar open times, UTC ns), strictly increasing
    bars: tuple[Bars, ...]        # each member's own bars (no inserted rows)
    cal_index: tuple[np.ndarray, ...]  # int64: calendar position of each of bars[i]'s rows
    mask: np.ndarray              # bool (n_members, n_calendar): the member has a bar at t
    bar_ns: int

    @property
    def n(self) -> int:
        """Number of members."""
        return len(self.symbols)

    def __len__(self) -> int:
        return int(self.times_ns.shape[0])

    @property
    def first(self) -> np.ndarray:
        """Calendar position of each member's first bar (its listing inside the span)."""
        return np.array([int(ix[0]) for ix in self.cal_index], dtype=np.int64)

    @property
    def last(self) -> np.ndarray:
        """Calendar position of each member's last bar (after it the member is delisted)."""
        return np.array([int(ix[-1]) for ix in self.cal_index], dtype=np.int64)

    def prices(self, field: str = "close") -> np.ndarray:
        """(n_members, n_calendar) matrix of `field` with NaN where a member has no bar (never filled)."""
        out = np.full((self.n, len(self)), np.nan)
        for i, (b, ix) in enumerate(zip(self.bars, self.cal_index, strict=True)):
            out[i, ix] = getattr(b, field)
        return out

    def times(self) -> pd.DatetimeIndex:
        """The calendar as UTC timestamps."""
        return pd.to_datetime(self.times_ns, unit="ns", utc=True)

    def window(self, start: int, stop: int) -> AlignedUniverse:
        """The calendar positions [start, stop) with each member's bars inside them (a member without a
        bar there is dropped, at least one must remain). Positions are re-based to the window."""
        keep_syms, keep_bars, keep_ix = [], [], []
        for s, b, ix in zip(self.symbols, self.bars, self.cal_index, strict=True):
            lo, hi = np.searchsorted(ix, [start, stop])
            if hi - lo < 2:
                continue
            keep_syms.append(s)
            keep_bars.append(Bars(b.time_ns[lo:hi], b.open[lo:hi], b.high[lo:hi], b.low[lo:hi], b.close[lo:hi],
                                  b.volume[lo:hi], b.bar_ns))
            keep_ix.append(ix[lo:hi] - start)
        if not keep_syms:
            raise ValueError("no member has two bars in this window")
        return AlignedUniverse(tuple(keep_syms), self.times_ns[start:stop], tuple(keep_bars), tuple(keep_ix),
                               _mask(keep_ix, stop - start), self.bar_ns)


def _mask(cal_index: Sequence[np.ndarray], n_cal: int) -> np.ndarray:
    """(members, calendar) availability: True where a member has a bar."""
    mask = np.zeros((len(cal_index), n_cal), dtype=bool)
    for i, ix in enumerate(cal_index):
        mask[i, ix] = True
    return mask


def align(frames: Mapping[str, pd.DataFrame] | Sequence[tuple[str, pd.DataFrame]]) -> AlignedUniverse:
    """Align members' bar frames (columns time, open, high, low, close, volume; each validated by
    `bars_from_frame`) on the union of their bar times. All members must share one bar length."""
    items = list(frames.items()) if isinstance(frames, Mapping) else list(frames)
    if not items:
        raise ValueError("a universe needs at least one member")
    bars = [bars_from_frame(f) for _, f in items]
    steps = {b.bar_ns for b in bars}
    if len(steps) != 1:
        raise ValueError(f"members have different bar lengths {sorted(steps)}: a universe has one timeframe")
    cal = np.unique(np.concatenate([b.time_ns for b in bars]))
    cal_index = tuple(np.searchsorted(cal, b.time_ns).astype(np.int64) for b in bars)
    return AlignedUniverse(tuple(s for s, _ in items), cal, tuple(bars), cal_index, _mask(cal_index, cal.shape[0]),
                           steps.pop())
