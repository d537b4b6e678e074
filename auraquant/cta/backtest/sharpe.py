"""The Sharpe ratio: the one definition every number called Sharpe in AuraQuant comes from.

    sharpe = mean(r) / std(r, ddof=1) * sqrt(periods_per_year)      (risk-free rate 0)

`periods_per_year` = 1 gives the per-period Sharpe that PSR, DSR, the trial ledger and PBO use; the
annualization basis (365 for 24/7 markets, 252 for exchange calendars) gives the reported `sharpe` of
daily returns. Degenerate cases, one convention for all of them:

- fewer than 2 returns, or no variance: **undefined**, NaN here and None in every report (a zero-variance
  Sharpe is not 0: it has no scale). No variance means a standard deviation that is not > 0 (NaN
  included) or that is at most `NOISE` x |mean|: equal returns leave the rounding residuals of their
  mean as a deviation ~1e-16 x |mean| (a Sharpe of 1e15 that no return series has; a real one has a
  per-period Sharpe far below 1 / `NOISE`);
- a **ruined** run (NAV reached 0, see `auraquant.cta.backtest.metrics`): the value is capped at 0,
  min(sharpe, 0), NaN staying NaN, so a run that lost everything never shows a positive Sharpe.

Callers that need a number for every sample (the rank statistics of PBO, the distributions of a Monte
Carlo) replace the undefined value themselves, explicitly, at the call site.

`sharpe_value` is the scalar form, written for numba: compiled code wraps it
(`njit(inline="always")(sharpe_value)`, as the kernel does) so this module stays free of numba for the
Python callers; `sharpe_ratio` is the NumPy form for scalars or arrays and computes bit-for-bit the same
values; `sharpe_of_returns` applies the definition to a return series.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike

NOISE = 1e-9
"""A deviation at most this fraction of |mean| is the rounding noise of equal returns (no variance)."""


def sharpe_value(mean: float, std: float, n_obs: float, ruined: bool, scale: float) -> float:
    """mean / std * scale from the moments of `n_obs` returns (`scale` = sqrt(periods per year), 1.0 for the
    per-period ratio); NaN when n_obs < 2 or there is no variance (std not > NOISE x |mean|); min(value, 0)
    when `ruined`."""
    if not (n_obs >= 2 and std > NOISE * abs(mean)):
        return np.nan
    s = mean / std * scale
    if ruined and s > 0:
        return 0.0
    return s


def sharpe_ratio(mean: ArrayLike, std: ArrayLike, n_obs: ArrayLike, *, ruined: ArrayLike = False,
                 periods_per_year: float = 1.0) -> Any:
    """The Sharpe ratio from the mean and the sample (ddof=1) standard deviation of `n_obs` returns.

    Scalars give a float, arrays (broadcast together) an array. The annualization factor is
    sqrt(periods_per_year); the default 1 gives the per-period ratio. Undefined (NaN) when n_obs < 2 or
    there is no variance (std not > NOISE x |mean|; None or NaN inputs count as undefined); capped at 0
    where `ruined` is true.
    """
    m, s, n, r = (np.asarray(np.nan if x is None else x, dtype=np.float64) for x in (mean, std, n_obs, ruined))
    scale = np.sqrt(np.float64(periods_per_year))
    with np.errstate(invalid="ignore", divide="ignore"):
        ok = (n >= 2) & (s > NOISE * np.abs(m))
        # The same operations in the same order as `sharpe_value`: equal to the last bit.
        sr = np.where(ok, m / np.where(ok, s, 1.0) * scale, np.nan)
        sr = np.where((r > 0) & (sr > 0), 0.0, sr)
    return float(sr) if sr.ndim == 0 else sr


def sharpe_of_returns(returns: ArrayLike, *, ruined: bool = False, periods_per_year: float = 1.0) -> float:
    """The Sharpe ratio of a return series (NumPy mean and ddof=1 standard deviation); see `sharpe_ratio`."""
    r = np.asarray(returns, dtype=np.float64)
    if r.ndim != 1:
        raise ValueError("returns must be a 1-d series")
    if r.size < 2:
        return float("nan")
    return sharpe_ratio(r.mean(), r.std(ddof=1), r.size, ruined=ruined, periods_per_year=periods_per_year)
