"""Seeded generators of synthetic bars and random Specs for property tests (test-only)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from auraquant.cta.strategy.spec import Spec

_H = 3_600_000_000_000


def random_bars(rng: np.random.Generator, n: int = 400) -> pd.DataFrame:
    """A synthetic 1h random walk with gapped opens, occasional very wide bars and missing hours."""
    steps = rng.choice([1, 1, 1, 1, 1, 1, 1, 1, 2, 5], size=n)
    t0 = 1_700_000_000 // 3600 * _H
    times = t0 + np.cumsum(steps) * _H
    close = np.empty(n)
    open_ = np.empty(n)
    px = 100.0
    for i in range(n):
        gap = rng.normal(0, 0.002) + (rng.normal(0, 0.03) if rng.random() < 0.08 else 0.0)
        open_[i] = px * (1 + gap)
        close[i] = open_[i] * (1 + rng.normal(0, 0.012))
        px = close[i]
    wide = np.where(rng.random(n) < 0.12, 0.05, 0.006)
    high = np.maximum(open_, close) * (1 + np.abs(rng.normal(0, wide)))
    low = np.minimum(open_, close) * (1 - np.abs(rng.normal(0, wide)))
    return pd.DataFrame({"time": pd.to_datetime(times, unit="ns", utc=True), "open": open_, "high": high,
                         "low": low, "close": close, "volume": rng.uniform(1, 10, n)})


def _pick(rng: np.random.Generator, items: list) -> object:
    return items[int(rng.integers(len(items)))]


def random_spec(rng: np.random.Generator) -> Spec:
    """A random composition of every built-in kind with parameters that trade often on `random_bars`."""
    fast = int(rng.integers(2, 8))
    baseline = _pick(rng, [
        {"name": "ema_cross", "params": {"fast": fast, "slow": fast + int(rng.integers(1, 20))}},
        {"name": "donchian_breakout", "params": {"period": int(rng.integers(2, 20))}},
        {"name": "ts_momentum", "params": {"lookback": int(rng.integers(1, 30)),
                                           "threshold": float(rng.uniform(0, 0.02))}},
        {"name": "bollinger_breakout", "params": {"period": int(rng.integers(3, 20)),
                                                  "k": float(rng.uniform(0.2, 2.0))}},
    ])
    filters = []
    if rng.random() < 0.3:
        filters.append({"name": "atr_regime", "params": {"period": int(rng.integers(2, 20)),
                                                         "min_pct": 0.002, "max_pct": float(rng.uniform(0.01, 0.05))}})
    if rng.random() < 0.3:
        filters.append({"name": "adx_trend", "params": {"period": int(rng.integers(2, 15)),
                                                        "min_adx": float(rng.uniform(5, 30))}})
    if rng.random() < 0.3:
        filters.append({"name": "htf_trend", "params": {"hours": int(rng.integers(2, 12)),
                                                        "period": int(rng.integers(1, 6))}})
    execution = []
    if rng.random() < 0.6:
        execution.append({"name": "fixed_sltp", "params": {
            "sl_pct": float(_pick(rng, [0.0, rng.uniform(0.003, 0.04)])),
            "tp_pct": float(_pick(rng, [0.0, rng.uniform(0.003, 0.06)]))}})
    if rng.random() < 0.35:
        execution.append({"name": "atr_stop", "params": {"period": int(rng.integers(2, 15)),
                                                         "sl_mult": float(rng.uniform(0.3, 3)),
                                                         "tp_mult": float(_pick(rng, [0.0, rng.uniform(0.3, 4)]))}})
    if rng.random() < 0.35:
        execution.append(_pick(rng, [
            {"name": "trailing_pct", "params": {"pct": float(rng.uniform(0.003, 0.05))}},
            {"name": "chandelier", "params": {"period": int(rng.integers(2, 15)), "mult": float(rng.uniform(0.5, 3))}}]))
    if rng.random() < 0.3:
        execution.append({"name": "time_stop", "params": {"bars": int(rng.integers(1, 30))}})
    risk = [_pick(rng, [
        {"name": "fixed_fraction", "params": {"fraction": float(rng.uniform(0.2, 2.0))}},
        {"name": "vol_target", "params": {"target_vol": float(rng.uniform(0.1, 1.0)),
                                          "lookback": int(rng.integers(2, 30))}}])]
    if rng.random() < 0.3:
        risk.append({"name": "leverage_cap", "params": {"max_leverage": float(rng.uniform(0.3, 1.5))}})
    if rng.random() < 0.3:
        risk.append({"name": "drawdown_breaker", "params": {"max_dd": float(rng.uniform(0.02, 0.15)),
                                                            "halt_bars": int(rng.integers(1, 40))}})
    if rng.random() < 0.3:
        risk.append({"name": "cooldown", "params": {"bars": int(rng.integers(1, 20))}})
    engine = {"fill": _pick(rng, ["next_open", "next_open", "same_close"]),
              "intrabar": _pick(rng, ["stop_first", "ohlc_path", "candle_color"]),
              "commission_bps": float(_pick(rng, [0.0, rng.uniform(0, 20)])),
              "slippage_bps": float(_pick(rng, [0.0, rng.uniform(0, 20)])),
              "initial_capital": float(rng.uniform(1e3, 1e6)),
              "annualization": _pick(rng, [365, 252]),
              "sides": _pick(rng, ["both", "both", "both", "long", "short"])}
    return Spec(baseline=baseline, filters=filters, execution=execution, risk=risk, engine=engine)
