"""Seeded synthetic OHLCV: regime-switching trends with volatility clustering. Always labelled `synthetic`.

Model (per bar):
- A Markov chain over three regimes — up-trend, down-trend, range — with sticky transitions, so trends last
  for weeks of hourly bars, as in the markets trend followers trade.
- Log return = regime drift + sigma_t * z_t with Student-t(5) shocks (fat tails), where sigma_t follows a
  GARCH(1,1) recursion (volatility clustering).
- open = previous close times a small overnight-free jitter, close from the return; high/low extend beyond
  max/min(open, close) by half-normal excursions scaled to sigma_t, so every bar is OHLC-consistent.
- volume = lognormal, larger when |return| is large.
The same (seed, n, timeframe, start) gives bit-identical bars on any machine (numpy PCG64).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from auraquant.cta.data.timeframes import timeframe_ms

_DRIFT = np.array([0.00018, -0.00016, 0.0])  # per hourly bar: up-trend, down-trend, range
_STAY = np.array([0.997, 0.996, 0.995])


def generate(n: int = 17_520, *, seed: int = 7, timeframe: str = "1h", start: str = "2022-01-01",
             price0: float = 30_000.0, drift_scale: float = 1.0) -> pd.DataFrame:
    """`n` bars of synthetic OHLCV starting at `start` (UTC), columns time, open, high, low, close, volume.

    `drift_scale` multiplies the regime drifts: 0 gives a driftless random walk (GARCH volatility, no trend
    to find: a null market for testing that research finds nothing), values above 1 plant stronger trends.
    The default keeps the bars of every earlier version bit-identical."""
    if n < 2:
        raise ValueError("need at least 2 bars")
    step_ms = timeframe_ms(timeframe)
    scale = step_ms / 3_600_000  # drift/vol are specified per hour and scaled to the timeframe
    rng = np.random.Generator(np.random.PCG64(seed))
    regime = _regimes(rng, n, scale)
    shocks = rng.standard_t(5, n) / np.sqrt(5 / 3)
    ret, sigma = _garch_returns(shocks, regime, _DRIFT * drift_scale, scale)
    return _frame(_times(start, step_ms, n), _ohlcv(rng, price0, ret, sigma))


def generate_correlated(n_instruments: int, n: int = 17_520, *, seed: int = 7, timeframe: str = "1h",
                        start: str = "2022-01-01", correlation: float = 0.5, drift_scale: float = 1.0,
                        prefix: str = "SYN") -> dict[str, pd.DataFrame]:
    """`n_instruments` SYNTHETIC OHLCV series of `n` bars each, on one calendar, with correlated returns.

    Symbols are `<prefix>NN/USDT` (never a real market's name). Each member follows the model of `generate`
    (a regime chain of its own, GARCH(1,1) volatility) but its standardized shock is
    sqrt(rho) x a common market shock + sqrt(1 - rho) x its own (Student-t(5) scaled to unit variance), so the
    shocks of two members have correlation `correlation` = rho (before regime drifts and GARCH scaling).
    Prices start at different levels. The same arguments give bit-identical frames (numpy PCG64)."""
    if n_instruments < 1:
        raise ValueError("need at least one instrument")
    if not 0.0 <= correlation < 1.0:
        raise ValueError("correlation must be in [0, 1)")
    if n < 2:
        raise ValueError("need at least 2 bars")
    step_ms = timeframe_ms(timeframe)
    scale = step_ms / 3_600_000
    rng = np.random.Generator(np.random.PCG64(seed))
    common = rng.standard_t(5, n) / np.sqrt(5 / 3)
    times = _times(start, step_ms, n)
    out: dict[str, pd.DataFrame] = {}
    for k in range(n_instruments):
        r_k = np.random.Generator(np.random.PCG64([seed, k + 1]))
        regime = _regimes(r_k, n, scale)
        own = r_k.standard_t(5, n) / np.sqrt(5 / 3)
        shocks = np.sqrt(correlation) * common + np.sqrt(1.0 - correlation) * own
        ret, sigma = _garch_returns(shocks, regime, _DRIFT * drift_scale, scale)
        price0 = float(10.0 ** r_k.uniform(0, 4))
        out[f"{prefix}{k + 1:02d}/USDT"] = _frame(times, _ohlcv(r_k, price0, ret, sigma))
    return out


def _regimes(rng: np.random.Generator, n: int, scale: float) -> np.ndarray:
    """The regime chain (0 up, 1 down, 2 range; starts in range), sticky per hour and scaled to the bar."""
    regime = np.empty(n, dtype=np.int64)
    regime[0] = 2
    u = rng.random(n)
    jump = rng.integers(0, 2, n)
    for i in range(1, n):
        r = regime[i - 1]
        regime[i] = r if u[i] < _STAY[r] ** scale else (r + 1 + jump[i]) % 3
    return regime


def _garch_returns(shocks: np.ndarray, regime: np.ndarray, drift: np.ndarray,
                   scale: float) -> tuple[np.ndarray, np.ndarray]:
    """Log returns = regime drift + sigma_t x shock with GARCH(1,1) variance; returns (returns, sigma)."""
    n = len(shocks)
    omega, alpha, beta = 2e-7 * scale, 0.06, 0.92
    var = np.empty(n)
    var[0] = omega / (1 - alpha - beta)
    ret = np.empty(n)
    for i in range(n):
        if i:
            var[i] = omega + alpha * (ret[i - 1] - drift[regime[i - 1]] * scale) ** 2 + beta * var[i - 1]
        ret[i] = drift[regime[i]] * scale + np.sqrt(var[i]) * shocks[i]
    return ret, np.sqrt(var)


def _ohlcv(rng: np.random.Generator, price0: float, ret: np.ndarray,
           sigma: np.ndarray) -> tuple[np.ndarray, ...]:
    """OHLC-consistent bars from the returns: open jittered from the previous close, high/low half-normal
    excursions scaled to sigma, lognormal volume rising with |return|."""
    n = len(ret)
    close = price0 * np.exp(np.cumsum(ret))
    prev = np.concatenate([[price0], close[:-1]])
    open_ = prev * np.exp(rng.normal(0.0, 0.05, n) * sigma)
    top = np.maximum(open_, close)
    bottom = np.minimum(open_, close)
    high = top * np.exp(np.abs(rng.normal(0.0, 0.6, n)) * sigma)
    low = bottom * np.exp(-np.abs(rng.normal(0.0, 0.6, n)) * sigma)
    volume = np.exp(rng.normal(5.0, 0.4, n)) * (1.0 + 40.0 * np.abs(ret))
    return open_, high, low, close, volume


def _times(start: str, step_ms: int, n: int) -> pd.DatetimeIndex:
    t0 = pd.Timestamp(start, tz="UTC").value // 1_000_000
    t0 -= t0 % step_ms
    return pd.to_datetime(t0 + step_ms * np.arange(n, dtype=np.int64), unit="ms", utc=True)


def _frame(times: pd.DatetimeIndex, bars: tuple[np.ndarray, ...]) -> pd.DataFrame:
    open_, high, low, close, volume = bars
    return pd.DataFrame({"time": times, "open": open_, "high": high, "low": low, "close": close,
                         "volume": volume})
