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

from auraquant.cta.backtest.metrics import nav_metrics
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
    m = nav_metrics(stitched["time"], stitched["equity"].to_numpy(), initial_capital, basis)
    d = daily_returns(stitched, initial_capital).to_numpy()
    mean, sd = m["daily_mean"], m["daily_std"]
    dsr = var = None
    trial = trial_daily_sharpes[np.isfinite(trial_daily_sharpes)]
    if sd > 0 and trial.size > 1 and d.size > 2:
        var = float(trial.var(ddof=1))
        dsr = _finite(deflate(mean / sd, n_trials, var, int(d.size), m["skew"], m["kurtosis"]).dsr)
    return OOSSummary(
        total_return=m["total_return"], ann_return=_finite(m["ann_return"]), sharpe=_finite(m["sharpe"]),
        sortino=_finite(m["sortino"]), max_drawdown=m["max_drawdown"], n_days=int(m["n_days"]), daily_mean=mean,
        daily_std=_finite(sd), skew=_finite(m["skew"]), kurtosis=_finite(m["kurtosis"]),
        trades=int(trades), dsr=dsr, dsr_n_trials=n_trials if dsr is not None else None, dsr_sharpe_variance=var)
