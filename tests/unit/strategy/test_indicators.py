"""Indicator kernels against pandas-ta (an independent implementation)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from auraquant.cta.strategy.indicators import adx, atr, ema, prior_max, rolling_std, sma

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import pandas_ta as ta


def _ohlc(n: int = 600):
    rng = np.random.default_rng(0)
    c = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    return c * (1 + rng.uniform(0, 0.01, n)), c * (1 - rng.uniform(0, 0.01, n)), c


def test_ema_atr_sma_std_match_pandas_ta() -> None:
    h, lo, c = _ohlc()
    s = pd.Series(c)
    np.testing.assert_allclose(ema(c, 10), ta.ema(s, 10, talib=False).to_numpy(), rtol=1e-12, equal_nan=True)
    np.testing.assert_allclose(atr(h, lo, c, 14), ta.atr(pd.Series(h), pd.Series(lo), s, 14, talib=False).to_numpy(),
                               rtol=1e-12, equal_nan=True)
    np.testing.assert_allclose(sma(c, 20), s.rolling(20).mean().to_numpy(), rtol=1e-12, equal_nan=True)
    np.testing.assert_allclose(rolling_std(c, 20), s.rolling(20).std().to_numpy(), rtol=1e-9, equal_nan=True)
    np.testing.assert_allclose(prior_max(h, 5), pd.Series(h).shift(1).rolling(5).max().to_numpy(), equal_nan=True)


def test_adx_converges_to_pandas_ta() -> None:
    h, lo, c = _ohlc()
    theirs = ta.adx(pd.Series(h), pd.Series(lo), pd.Series(c), 14, talib=False)["ADX_14"].to_numpy()
    ours = adx(h, lo, c, 14)
    assert np.isnan(ours[:26]).all() and not np.isnan(ours[27])
    # Seeding of the Wilder recursions differs in the warm-up; the recursion forgets it geometrically.
    np.testing.assert_allclose(ours[300:], theirs[300:], rtol=1e-6)
