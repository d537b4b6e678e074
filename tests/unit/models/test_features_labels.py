"""Features come from closed bars only (prefix-invariant), higher-timeframe values appear only after their
bar closed, lookback windows are the right rows, and labels mean what labels.py says."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from auraquant.cta.models.features import (
    DEFAULT_FEATURE_SET,
    FeatureSet,
    HigherReturns,
    IndicatorFeature,
    feature_matrix,
    timeframe_of,
    windows,
)
from auraquant.cta.models.labels import sign_label, triple_barrier_label


def _frame(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    c = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    o = np.r_[c[0], c[:-1]]
    return pd.DataFrame({"time": pd.date_range("2024-01-01 01:00", periods=n, freq="h", tz="UTC"), "open": o,
                         "high": np.maximum(o, c) * 1.003, "low": np.minimum(o, c) * 0.997, "close": c,
                         "volume": rng.uniform(1, 2, n)})


def test_feature_rows_depend_on_closed_bars_only() -> None:
    frame = _frame(400)
    fs = FeatureSet(indicators=[IndicatorFeature(name="rsi", params={"length": 14}),
                                IndicatorFeature(name="ema", params={"length": 10}, scale="close"),
                                IndicatorFeature(name="rsi", params={"length": 5}, timeframe="4h")],
                    higher=[HigherReturns(timeframe="4h", horizons=[1, 3])])
    full = feature_matrix(frame, fs).to_numpy()
    assert full.shape[1] == len(fs.returns) + 3 + 2
    for k in (30, 97, 98, 99, 100, 101, 250, 399):
        prefix = feature_matrix(frame.iloc[:k], fs).to_numpy()
        assert np.array_equal(prefix, full[:k], equal_nan=True), k
    assert np.isfinite(full[200:]).all()


def test_higher_timeframe_value_appears_only_after_its_bar_closed() -> None:
    frame = _frame(60)
    fs = FeatureSet(returns=[1], indicators=[], higher=[HigherReturns(timeframe="4h", horizons=[1])])
    col = feature_matrix(frame, fs)["ret_1@4h"].to_numpy()
    close = frame["close"].to_numpy()
    t = frame["time"]
    # the 4h bar [04:00, 08:00) closes with the 07:00 hourly bar; its return vs [00:00, 04:00) is shown from
    # that hourly bar on, and not at 06:00
    i7 = int(np.flatnonzero(t == pd.Timestamp("2024-01-01 07:00", tz="UTC"))[0])
    i3 = int(np.flatnonzero(t == pd.Timestamp("2024-01-01 03:00", tz="UTC"))[0])
    assert col[i7] == pytest.approx(np.log(close[i7] / close[i3]))
    assert col[i7 - 1] != col[i7]


def test_windows_are_the_lookback_rows_ending_at_each_sample() -> None:
    f = np.arange(30, dtype=float).reshape(10, 3)
    f[2, 1] = np.nan
    X, rows = windows(f, 4)
    assert rows.tolist() == [6, 7, 8, 9]  # rows 3..5 touch the NaN at row 2 within their window
    assert np.array_equal(X[0], f[3:7].astype(np.float32))
    assert X.dtype == np.float32 and X.shape == (4, 4, 3)
    X0, rows0 = windows(f[:3], 4)
    assert X0.shape == (0, 4, 3) and rows0.size == 0


def test_labels() -> None:
    c = np.array([10.0, 11.0, 9.0, 12.0, 12.0, 8.0])
    assert np.array_equal(sign_label(c, 1), [1, 0, 1, 0, 0, np.nan], equal_nan=True)
    assert np.array_equal(sign_label(c, 2), [0, 1, 1, 0, np.nan, np.nan], equal_nan=True)
    n = 40
    close = np.full(n, 100.0)
    close[::2] = 100.5  # volatility for the barrier width
    high, low = close + 0.1, close - 0.1
    high[31] = 200.0  # the upper barrier is hit first after bar 30
    low[32] = 1.0
    y = triple_barrier_label(high, low, close, 3, k=1.0, vol_bars=24)
    assert y[30] == 1.0 and y[31] == 0.0  # 31: its first touch is the low at 32
    assert np.isnan(y[:24]).all() and np.isnan(y[-3:]).all()


def test_feature_set_identity_and_validation() -> None:
    assert DEFAULT_FEATURE_SET.key == 0
    other = FeatureSet(returns=[1, 3])
    assert other.id.startswith("fset_") and other.key > 0 and other.key == FeatureSet(returns=[1, 3]).key
    with pytest.raises(ValueError):
        FeatureSet(returns=[0])
    with pytest.raises(ValueError, match="unknown indicator"):
        feature_matrix(_frame(50), FeatureSet(indicators=[IndicatorFeature(name="nope")]))
    with pytest.raises(ValueError, match="higher timeframe"):
        feature_matrix(_frame(50), FeatureSet(higher=[HigherReturns(timeframe="90m", horizons=[1])]))
    assert timeframe_of(_frame(10)) == "1h"
