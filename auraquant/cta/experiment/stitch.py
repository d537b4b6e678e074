"""Stitch the target segments of a walk-forward into one out-of-sample equity curve and summarize it.

Stitching compounds returns, never adds PnL: within each window's target backtest (starting from the
spec's initial capital C) the per-bar return is r_i = NAV_i / NAV_{i-1} - 1 with NAV_{-1} = C; the
stitched NAV is C x prod(1 + r) over the windows in order. Windows never overlap (step >= target).

The summary follows the definitions of `auraquant.cta.backtest.metrics` (UTC daily returns: the NAV of
the last bar of each day over the previous one, the first day over C; population skew and non-excess
kurtosis; max drawdown on bar NAVs including C). The DSR uses the daily Sharpe of this curve, the total
number of trials of the run, and the variance of the trials' daily Sharpe ratios on train.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats

from auraquant.cta.experiment.deflated import deflate
from auraquant.cta.experiment.models import OOSSummary


def stitch_equity(segments: list[pd.DataFrame], initial_capital: float) -> pd.DataFrame:
    """Columns time, window, ret (per-bar compounding return), equity (stitched NAV)."""
    parts = []
    for seg in segments:
        nav = seg["equity"].to_numpy(dtype=float)
        prev = np.concatenate([[initial_capital], nav[:-1]])
        parts.append(pd.DataFrame({"time": seg["time"].to_numpy(), "window": seg["window"].to_numpy(),
                                   "ret": nav / prev - 1.0}))
    out = pd.concat(parts, ignore_index=True)
    if not out["time"].is_monotonic_increasing:
        raise ValueError("target segments overlap or are out of order")
    out["time"] = pd.to_datetime(out["time"], utc=True)
    out["equity"] = initial_capital * np.cumprod(1.0 + out["ret"].to_numpy())
    return out


def daily_returns(stitched: pd.DataFrame, initial_capital: float) -> pd.Series:
    """UTC daily returns of a stitched curve (see the module docstring)."""
    day = stitched["time"].dt.floor("D")
    last = stitched.groupby(day, sort=True)["equity"].last()
    prev = np.concatenate([[initial_capital], last.to_numpy()[:-1]])
    return pd.Series(last.to_numpy() / prev - 1.0, index=last.index, name="ret")


def _finite(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


def summarize(stitched: pd.DataFrame, initial_capital: float, basis: int, trades: int,
              trial_daily_sharpes: np.ndarray, n_trials: int) -> OOSSummary:
    d = daily_returns(stitched, initial_capital).to_numpy()
    nav = stitched["equity"].to_numpy()
    total = float(nav[-1] / initial_capital - 1.0)
    years = d.size / basis
    ann = (1.0 + total) ** (1.0 / years) - 1.0 if total > -1 else -1.0
    sd = float(d.std(ddof=1)) if d.size > 1 else math.nan
    mean = float(d.mean())
    downside = math.sqrt(float(np.mean(np.minimum(d, 0.0) ** 2)))
    peak = np.maximum.accumulate(np.concatenate([[initial_capital], nav]))
    mdd = float(np.min(np.concatenate([[initial_capital], nav]) / peak - 1.0))
    skew = float(stats.skew(d)) if sd > 0 else math.nan
    kurt = float(stats.kurtosis(d, fisher=False)) if sd > 0 else math.nan
    dsr = var = None
    trial = trial_daily_sharpes[np.isfinite(trial_daily_sharpes)]
    if sd > 0 and trial.size > 1 and d.size > 2:
        var = float(trial.var(ddof=1))
        dsr = _finite(deflate(mean / sd, n_trials, var, int(d.size), skew, kurt).dsr)
    return OOSSummary(
        total_return=total, ann_return=_finite(ann), sharpe=_finite(mean / sd * math.sqrt(basis)) if sd > 0 else None,
        sortino=_finite(mean / downside * math.sqrt(basis)) if downside > 0 else None, max_drawdown=mdd,
        n_days=int(d.size), daily_mean=mean, daily_std=_finite(sd), skew=_finite(skew), kurtosis=_finite(kurt),
        trades=int(trades), dsr=dsr, dsr_n_trials=n_trials if dsr is not None else None, dsr_sharpe_variance=var)
