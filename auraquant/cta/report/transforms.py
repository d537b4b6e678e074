"""Presentation transforms of an equity curve: the only numbers a tearsheet derives itself.

- `drawdown(curve)`: NAV_t / running max(initial, NAV_0..t) - 1 (<= 0), the engine's max-drawdown definition
  evaluated at every mark.
- `monthly_returns(curve)`: per UTC calendar month, the last NAV of the month over the last NAV of the
  previous month with marks (the first month over `initial`, or the first NAV when it is None); the year
  column compounds that year's months (= year-end NAV over the previous year-end NAV).
- `daily_returns(curve)`: UTC daily returns of the NAV (the engine's and the stitcher's definition,
  `auraquant.cta.experiment.stitch.daily_returns`), the input of the rolling statistics.
- `rolling_stats(curve, basis)`: rolling Sharpe (mean / std(ddof=1) x sqrt(basis), the engine's Sharpe on each
  window) and rolling volatility (std x sqrt(basis)) over `rolling_window_days(n)` days of daily returns.
- `worst_drawdowns(curve, top)`: the deepest peak-to-recovery episodes of the NAV (start = the peak mark,
  or the first mark when the peak is the initial capital; trough; recovery = first mark back at the peak,
  None if never), deepest first.
- `trade_excursions(...)`: each trade's maximum adverse and favourable excursion (MAE, MFE) from the bars
  (definition in its docstring).
- `display_indices(...)`: which marks to draw when a curve has more points than a browser should plot; it
  keeps the first and last mark and, per bucket, the marks of the lowest and highest NAV and of the deepest
  drawdown, so every extreme (including the maximum drawdown) is drawn exactly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd

from auraquant.cta.backtest.sharpe import sharpe_ratio
from auraquant.cta.experiment.stitch import daily_returns as _stitched_daily_returns
from auraquant.cta.report.model import EquityCurve


def nav_series(curve: EquityCurve) -> pd.Series:
    return pd.Series(np.asarray(curve.nav, dtype=np.float64), index=pd.DatetimeIndex(curve.times, tz="UTC"))


def drawdown(curve: EquityCurve) -> np.ndarray:
    nav = np.asarray(curve.nav, dtype=np.float64)
    peak = np.maximum.accumulate(nav)
    if curve.initial is not None:
        peak = np.maximum(peak, curve.initial)
    with np.errstate(divide="ignore", invalid="ignore"):
        dd = np.where(peak > 0, nav / peak - 1.0, -1.0)
    return dd


@dataclass(frozen=True)
class MonthlyTable:
    """Returns (fractions) by year x month (1..12, NaN where no marks) and the compounded year total."""

    years: list[int]
    months: np.ndarray  # shape (len(years), 12)
    year_total: np.ndarray  # shape (len(years),)


def monthly_returns(curve: EquityCurve) -> MonthlyTable:
    nav = nav_series(curve)
    month_end = nav.groupby([nav.index.year, nav.index.month]).last()
    base = curve.initial if curve.initial is not None else float(nav.iloc[0])
    prev = np.concatenate([[base], month_end.to_numpy()[:-1]])
    rets = month_end.to_numpy() / prev - 1.0
    years = sorted({int(y) for y, _ in month_end.index})
    table = np.full((len(years), 12), np.nan)
    row = {y: i for i, y in enumerate(years)}
    for (y, m), r in zip(month_end.index, rets, strict=True):
        table[row[int(y)], int(m) - 1] = r
    totals = np.array([np.prod(1.0 + t[np.isfinite(t)]) - 1.0 for t in table])
    return MonthlyTable(years=years, months=table, year_total=totals)


def display_indices(nav: np.ndarray, dd: np.ndarray, max_points: int = 4000) -> np.ndarray:
    """Sorted indices of the marks to plot (all of them when there are at most `max_points`)."""
    n = nav.shape[0]
    if n <= max_points:
        return np.arange(n)
    buckets = max(1, max_points // 3)
    edges = np.linspace(0, n, buckets + 1).astype(np.int64)
    keep = [0, n - 1]
    for a, b in zip(edges[:-1], edges[1:], strict=True):
        if b <= a:
            continue
        seg, dseg = nav[a:b], dd[a:b]
        keep += [a + int(np.argmin(seg)), a + int(np.argmax(seg)), a + int(np.argmin(dseg))]
    return np.unique(np.asarray(keep, dtype=np.int64))


def daily_returns(curve: EquityCurve) -> pd.Series:
    """UTC daily returns (index: day), from `initial` (or the first NAV) on the first day."""
    frame = pd.DataFrame({"time": pd.DatetimeIndex(curve.times, tz="UTC"),
                          "equity": np.asarray(curve.nav, dtype=np.float64)})
    return _stitched_daily_returns(frame, curve.initial if curve.initial is not None else float(curve.nav[0]))


def rolling_window_days(n_days: int) -> int:
    """The rolling window for `n_days` of returns: 90 days from a year of data, 30 from four months, else a
    quarter of the span (at least 5), so a short out-of-sample span still shows a curve."""
    if n_days >= 360:
        return 90
    if n_days >= 120:
        return 30
    return max(5, n_days // 4)


@dataclass(frozen=True)
class RollingStats:
    """Rolling annualized Sharpe and volatility per UTC day (NaN until `window` days are available)."""

    days: list[datetime]
    window: int
    sharpe: np.ndarray
    volatility: np.ndarray


def rolling_stats(curve: EquityCurve, basis: int, window: int | None = None) -> RollingStats:
    ret = daily_returns(curve)
    w = window or rolling_window_days(len(ret))
    roll = ret.rolling(w, min_periods=w)
    std = roll.std(ddof=1).to_numpy()
    mean = roll.mean().to_numpy()
    sharpe = sharpe_ratio(mean, std, w, periods_per_year=basis)  # the one definition (backtest.sharpe)
    return RollingStats(days=list(ret.index.to_pydatetime()), window=w, sharpe=sharpe,
                        volatility=std * np.sqrt(basis))


@dataclass(frozen=True)
class DrawdownEpisode:
    start: datetime
    trough: datetime
    recovery: datetime | None
    depth: float  # <= 0, NAV at the trough / peak - 1
    end: datetime  # recovery, or the last mark while not recovered (the length is measured to it)


def worst_drawdowns(curve: EquityCurve, top: int = 5) -> list[DrawdownEpisode]:
    """The `top` deepest drawdown episodes (see the module docstring), deepest first; ties by start."""
    nav = np.asarray(curve.nav, dtype=np.float64)
    dd = drawdown(curve)
    times = curve.times
    episodes: list[DrawdownEpisode] = []
    i, n = 0, nav.shape[0]
    while i < n:
        if dd[i] >= 0:
            i += 1
            continue
        start = i - 1 if i > 0 else 0  # the peak mark (or the first mark when the peak is the initial capital)
        j = i
        while j < n and dd[j] < 0:
            j += 1
        trough = i + int(np.argmin(dd[i:j]))
        recovered = j < n
        episodes.append(DrawdownEpisode(start=times[start], trough=times[trough],
                                        recovery=times[j] if recovered else None, depth=float(dd[trough]),
                                        end=times[j] if recovered else times[n - 1]))
        i = j
    episodes.sort(key=lambda e: (e.depth, e.start))
    return episodes[:top]


# Exits that fill inside a bar (after its open was visited); every other exit fills at an open or a close.
INTRABAR_EXITS = frozenset({"stop_loss", "take_profit", "trailing_stop"})


def trade_excursions(bar_times: Sequence[datetime] | pd.DatetimeIndex, open_: np.ndarray, high: np.ndarray,
                     low: np.ndarray, trades: Sequence[tuple[datetime, datetime, int, float, float, str]], *,
                     fill_at_open: bool) -> list[tuple[float | None, float | None]]:
    """(MAE, MFE) of each trade `(entry_time, exit_time, side, entry_price, exit_price, exit_reason)` as
    fractions of its entry price, signed for the side (MAE <= 0 <= MFE).

    The prices the position was exposed to: the entry and exit fills; the high and low of every bar it was
    held through, i.e. from the entry bar (when `fill_at_open`: entered at that bar's open, the whole bar is
    held; otherwise entered at its close, and that bar is not) to the bar before the exit bar; on the exit
    bar, its open for an intrabar stop or target exit (`INTRABAR_EXITS`: the open was visited before the
    fill), its whole range for an exit at its close (not `fill_at_open`, or a `ruin` liquidation), nothing
    more for an exit at its open. Entry and exit bars are found by their open times in `bar_times`; a trade
    whose bars are not there gets (None, None).
    """
    t = pd.DatetimeIndex(bar_times)
    key = (t.tz_localize("UTC") if t.tz is None else t.tz_convert("UTC")).as_unit("ns").asi8

    def find(ts: datetime) -> int | None:
        v = pd.Timestamp(ts).as_unit("ns").value
        k = int(np.searchsorted(key, v))
        return k if k < key.size and key[k] == v else None

    out: list[tuple[float | None, float | None]] = []
    for et, xt, side, ep, xp, reason in trades:
        a, b = find(et), find(xt)
        if a is None or b is None or not (np.isfinite(ep) and ep > 0 and np.isfinite(xp)):
            out.append((None, None))
            continue
        intrabar = reason in INTRABAR_EXITS
        at_close = not intrabar and (not fill_at_open or reason == "ruin")
        first = a if fill_at_open else a + 1
        last = b if at_close else b - 1
        hi, lo = [ep, xp], [ep, xp]
        if last >= first:
            hi.append(float(np.max(high[first:last + 1])))
            lo.append(float(np.min(low[first:last + 1])))
        if intrabar and b >= first:
            hi.append(float(open_[b]))
            lo.append(float(open_[b]))
        best, worst = (max(hi), min(lo)) if side > 0 else (min(lo), max(hi))
        out.append((min(side * (worst / ep - 1.0), 0.0), max(side * (best / ep - 1.0), 0.0)))
    return out
