"""Deterministic tearsheet inputs generated for the report tests (synthetic, seeded)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np

from auraquant.cta.report.fan import trade_bootstrap_fan
from auraquant.cta.report.model import EquityCurve, Metric, OOSWindow, TearsheetData, Trade


def sample_data(seed: int = 3, n_bars: int = 24 * 400, n_trades: int = 120) -> TearsheetData:
    """~400 days of hourly NAV (a drifting random walk), trades, four OOS windows and a Monte Carlo fan."""
    rng = np.random.default_rng(seed)
    start = datetime(2023, 1, 1, tzinfo=UTC)
    times = [start + timedelta(hours=h) for h in range(n_bars)]
    nav = 10_000 * np.cumprod(1 + rng.normal(0.00004, 0.004, n_bars))
    bars = np.sort(rng.choice(n_bars - 10, size=n_trades, replace=False))
    trades = []
    for b in bars:
        ret = float(rng.normal(0.004, 0.03))
        trades.append(Trade(entry_time=times[b], exit_time=times[b + 5], side=int(rng.choice([-1, 1])),
                            pnl=ret * 5_000, ret=ret, exit_reason=str(rng.choice(["signal", "stop_loss", "take_profit"]))))
    q = n_bars // 5
    windows = [OOSWindow(start=times[k * q], end=times[min((k + 1) * q, n_bars - 1)], label=f"W{k}")
               for k in range(1, 5)]
    metrics = [Metric(name="total return", value=float(nav[-1] / 10_000 - 1), unit="return"),
               Metric(name="Sharpe", value=1.234), Metric(name="max drawdown", value=-0.1234, unit="return"),
               Metric(name="trades", value=n_trades, unit="count"), Metric(name="profit factor", value=None),
               Metric(name="win rate", value=0.55, unit="pct"), Metric(name="final NAV", value=float(nav[-1]),
                                                                      unit="money")]
    return TearsheetData(
        title="EMA cross 20/80 on SYNTH/USDT 1h", subtitle="walk-forward, 4 target windows",
        ids={"run": "run_0123456789abcdef0123", "spec": "spec_abcdef0123456789abcd", "data": "dv_feedface"},
        equity=EquityCurve(times=times, nav=nav.tolist(), initial=10_000.0), oos_windows=windows, trades=trades,
        monte_carlo=trade_bootstrap_fan([t.ret for t in trades], n_sims=300, seed=1), metrics=metrics,
        annualization_basis=365, fill_policy="next_open", intrabar_policy="stop_first",
        context={"costs": "commission 5 bps + slippage 2 bps per side"}, notes=["synthetic data"])
