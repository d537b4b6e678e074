"""The sealed holdout, enforced where bars are read.

`SealedBars` is the only bar access the search and selection code receives. It is built from the bars
*before* `holdout_start` only (from the store it loads `time < holdout_start`; from a frame it copies
those rows and keeps nothing else), so the holdout bars are not in the object at all. Asking it for a
range that reaches the holdout raises `HoldoutViolation` instead of silently truncating, and every range
it serves is recorded in `served` (an audit trail that tests use to prove no holdout bar was read).

Bars come from the data access layer (`auraquant.cta.data.access`), which enforces the seal declared on the
data content for every reader; `SealedBars` adds the per-run bound and the served-range audit.
Scoring the holdout is a different, explicit call (`auraquant.cta.experiment.holdout.score_holdout`)
that governance makes once, at freeze.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import pandas as pd

from auraquant.content_hash import bars_content_hash
from auraquant.cta.data.access import HoldoutSealed, bar_times, research_bars
from auraquant.store import Store

_COLUMNS = ["time", "open", "high", "low", "close", "volume"]


class HoldoutViolation(HoldoutSealed):
    """Something asked the sealed bar access for bars at or after the holdout start."""


@dataclass(frozen=True)
class ServedRange:
    start: int
    stop: int
    first_time: pd.Timestamp
    last_time: pd.Timestamp


def holdout_start_for(times: pd.Series | pd.DatetimeIndex, holdout_bars: int) -> pd.Timestamp | None:
    """The open time of the first of the last `holdout_bars` bars (None when holdout_bars is 0)."""
    if holdout_bars < 0:
        raise ValueError("holdout_bars must be >= 0")
    if holdout_bars == 0:
        return None
    if holdout_bars >= len(times):
        raise ValueError(f"holdout of {holdout_bars} bars leaves nothing of {len(times)} bars to search on")
    return pd.Timestamp(pd.DatetimeIndex(times)[len(times) - holdout_bars])


class SealedBars:
    """Read access to the bars before the holdout; see the module docstring."""

    def __init__(self, frame: pd.DataFrame, holdout_start: pd.Timestamp | None) -> None:
        visible = frame if holdout_start is None else frame[frame["time"] < holdout_start]
        self._frame = visible[_COLUMNS].reset_index(drop=True).copy()
        self._holdout_start = None if holdout_start is None else pd.Timestamp(holdout_start)
        self._lock = threading.Lock()
        self.served: list[ServedRange] = []

    @classmethod
    def from_store(cls, store: Store, dv_id: str, holdout_start: pd.Timestamp | None,
                   start: pd.Timestamp | None = None) -> SealedBars:
        """Load only `start <= time < holdout_start` of a data version, through the data access layer (which
        refuses a `holdout_start` past the version's declared seal)."""
        return cls(research_bars(store, dv_id, start, holdout_start), holdout_start)

    def __len__(self) -> int:
        return len(self._frame)

    @property
    def holdout_start(self) -> pd.Timestamp | None:
        return self._holdout_start

    @property
    def first_time(self) -> pd.Timestamp:
        return pd.Timestamp(self._frame["time"].iloc[0])

    @property
    def last_time(self) -> pd.Timestamp:
        return pd.Timestamp(self._frame["time"].iloc[-1])

    def content_hash(self) -> str:
        """sha256 of the visible bars (the store's canonical bar hash)."""
        return bars_content_hash(self._frame)

    def segment(self, start: int, stop: int) -> pd.DataFrame:
        """A copy of bars [start, stop) by index; raises HoldoutViolation if stop passes the holdout start."""
        if stop > len(self._frame):
            raise HoldoutViolation(
                f"bars [{start}, {stop}) requested but only {len(self._frame)} bars precede the sealed "
                f"holdout (starting {self._holdout_start}); search and selection may not read it")
        if not 0 <= start < stop:
            raise ValueError(f"bad bar range [{start}, {stop})")
        out = self._frame.iloc[start:stop].reset_index(drop=True).copy()
        with self._lock:
            self.served.append(ServedRange(start, stop, pd.Timestamp(out["time"].iloc[0]),
                                           pd.Timestamp(out["time"].iloc[-1])))
        return out


__all__ = ["HoldoutViolation", "SealedBars", "ServedRange", "bar_times", "holdout_start_for"]
