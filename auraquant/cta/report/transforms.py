"""Presentation transforms of an equity curve: the only numbers a tearsheet derives itself.

- `drawdown(curve)`: NAV_t / running max(initial, NAV_0..t) - 1 (<= 0), the engine's max-drawdown definition
  evaluated at every mark.
- `monthly_returns(curve)`: per UTC calendar month, the last NAV of the month over the last NAV of the
  previous month with marks (the first month over `initial`, or the first NAV when it is None); the year
  column compounds that year's months (= year-end NAV over the previous year-end NAV).
- `display_indices(...)`: which marks to draw when a curve has more points than a browser should plot; it
  keeps the first and last mark and, per bucket, the marks of the lowest and highest NAV and of the deepest
  drawdown, so every extreme (including the maximum drawdown) is drawn exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

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
