"""Stitch the target segments of a walk-forward into one out-of-sample equity curve and summarize it.

Stitching compounds returns, never adds PnL: within each window's target backtest (starting from the
spec's initial capital C) the per-bar return is r_i = NAV_i / NAV_{i-1} - 1 with NAV_{-1} = C; the
stitched NAV is C x prod(1 + r) over the windows in order. Windows never overlap (step >= target).

The summary follows the definitions of `auraquant.cta.backtest.metrics` (UTC daily returns: the NAV of
the last bar of each day over the previous one, the first day over C; population skew and non-excess
kurtosis; max drawdown on bar NAVs including C). The DSR uses the daily Sharpe of this curve, the total
number of trials of the run, and the variance of the trials' daily Sharpe ratios on train.

Buy and hold (`stitch_buy_and_hold`) is stitched the same way over the same target segments: within each
segment the instrument is bought and sold once with the run's fill convention and costs
(`auraquant.cta.backtest.metrics.BuyAndHold`), and the segments' per-bar returns are compounded in order.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from auraquant.cta.backtest.metrics import BuyAndHold, buy_and_hold_from_nav, buy_and_hold_nav, nav_metrics
from auraquant.cta.backtest.sharpe import sharpe_ratio
from auraquant.cta.experiment.deflated import deflate
from auraquant.cta.experiment.models import OOSSummary
from auraquant.cta.strategy.spec import EngineSettings


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
    with np.errstate(invalid="ignore", divide="ignore"):
        # after a ruin (NAV 0) a day returns 0, as in the engine's metrics
        ret = np.where(prev > 0.0, last.to_numpy() / prev - 1.0, 0.0)
    return pd.Series(ret, index=last.index, name="ret")


def daily_return_matrix(times: pd.Series, navs: np.ndarray, initial_capital: float) -> pd.DataFrame:
    """UTC daily returns (rows: days, index `time`) of several NAV curves over the same bars (`navs`: one
    row per curve, one column per bar of `times`, ascending); column j is `daily_returns` of curve j."""
    day = times.dt.floor("D").to_numpy()
    last_pos = np.flatnonzero(np.r_[day[1:] != day[:-1], True])
    last = np.asarray(navs, dtype=float)[:, last_pos]
    prev = np.concatenate([np.full((last.shape[0], 1), float(initial_capital)), last[:, :-1]], axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        ret = np.where(prev > 0.0, last / prev - 1.0, 0.0)
    return pd.DataFrame(ret.T, index=pd.DatetimeIndex(day[last_pos], name="time"))


def _finite(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


def summarize(stitched: pd.DataFrame, initial_capital: float, basis: int, trades: int,
              trial_daily_sharpes: np.ndarray, n_trials: int) -> OOSSummary:
    m = nav_metrics(stitched["time"], stitched["equity"].to_numpy(), initial_capital, basis)
    d = daily_returns(stitched, initial_capital).to_numpy()
    mean, sd = m["daily_mean"], m["daily_std"]
    dsr = var = None
    trial = trial_daily_sharpes[np.isfinite(trial_daily_sharpes)]
    ruined = m["ruined"] > 0
    if sd > 0 and trial.size > 1 and d.size > 2:
        var = float(trial.var(ddof=1))
        sr = sharpe_ratio(mean, sd, d.size, ruined=ruined)  # a ruined curve never deflates to a positive SR
        dsr = _finite(deflate(sr, n_trials, var, int(d.size), m["skew"], m["kurtosis"]).dsr)
    return OOSSummary(
        total_return=m["total_return"], ann_return=_finite(m["ann_return"]), sharpe=_finite(m["sharpe"]),
        sortino=_finite(m["sortino"]), max_drawdown=m["max_drawdown"], n_days=int(m["n_days"]), daily_mean=mean,
        daily_std=_finite(sd), skew=_finite(m["skew"]), kurtosis=_finite(m["kurtosis"]),
        trades=int(trades), dsr=dsr, dsr_n_trials=n_trials if dsr is not None else None, dsr_sharpe_variance=var,
        ruined=ruined)


def stitch_buy_and_hold(targets: list[pd.DataFrame], engine: EngineSettings,
                        versus: object = None) -> tuple[BuyAndHold, pd.DataFrame]:
    """Buy and hold over the target segments `targets` (bar frames with time, open, close; in window order)
    under `engine`'s fill, costs, capital and basis, stitched like the strategy's segments; the excess is
    taken over `versus` (the strategy's OOS metrics) when given. Returns the summary and the stitched curve
    (columns time, window, ret, equity)."""
    if not targets:
        raise ValueError("buy and hold needs at least one target segment")
    segments = [pd.DataFrame({"time": t["time"].to_numpy(), "window": k,
                              "equity": buy_and_hold_nav(t["open"], t["close"], fill=engine.fill,
                                                         commission_bps=engine.commission_bps,
                                                         slippage_bps=engine.slippage_bps,
                                                         initial=engine.initial_capital)})
                for k, t in enumerate(targets)]
    curve = stitch_equity(segments, engine.initial_capital)
    bh = buy_and_hold_from_nav(curve["time"], curve["equity"].to_numpy(), engine.initial_capital,
                               engine.annualization, segments=len(targets), versus=versus)
    return bh, curve
