"""Resampling and closed-bar alignment: a higher-timeframe value never reaches a bar before it has closed."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from auraquant.cta.data import features, synthetic
from auraquant.cta.data.timeframes import TimeframeError, align_to_lower, floor_to_bar, resample, timeframe_ms


def test_timeframe_parsing() -> None:
    assert timeframe_ms("5m") == 300_000 and timeframe_ms("4h") == 4 * 3_600_000 and timeframe_ms("1d") == 86_400_000
    for bad in ("1x", "h", "0h", ""):
        with pytest.raises(TimeframeError):
            timeframe_ms(bad)


def test_resample_aggregates_ohlcv() -> None:
    bars = synthetic.generate(48, seed=1)
    out = resample(bars, "4h", from_tf="1h")
    assert len(out) == 12 and (out["n_bars"] == 4).all()
    first = bars.iloc[:4]
    row = out.iloc[0]
    assert row["open"] == first["open"].iloc[0] and row["close"] == first["close"].iloc[-1]
    assert row["high"] == first["high"].max() and row["low"] == first["low"].min()
    assert row["volume"] == pytest.approx(first["volume"].sum(), rel=1e-15)


def test_drop_incomplete_removes_partial_and_still_forming_buckets() -> None:
    bars = synthetic.generate(10, seed=1)  # 2 full 4h buckets + 2 bars of a third
    bars = bars.drop(index=1).reset_index(drop=True)  # a gap inside the first bucket
    out = resample(bars, "4h", from_tf="1h", drop_incomplete=True)
    assert out["time"].tolist() == [bars["time"].iloc[3]]


def test_alignment_matches_the_closing_rule() -> None:
    lower = synthetic.generate(24, seed=3)
    higher = resample(lower, "4h", from_tf="1h")
    aligned = align_to_lower(higher[["time", "close"]], "4h", lower["time"], "1h")
    # The 4h bar opening at 00:00 closes at 04:00: first visible at the close of the 03:00 bar.
    assert aligned["close"].iloc[:3].isna().all()
    assert aligned["close"].iloc[3] == higher["close"].iloc[0] == lower["close"].iloc[3]
    assert aligned["close"].iloc[6] == higher["close"].iloc[0]
    assert aligned["close"].iloc[7] == higher["close"].iloc[1]


def test_higher_timeframe_feature_never_uses_an_unclosed_bar() -> None:
    """Recompute the aligned feature on data truncated at each lower bar's close: it must equal the full run.

    A leaky alignment (e.g. showing the still-forming 4h bar) changes when the future is cut away; this test
    would then fail at the first such bar.
    """
    lower = synthetic.generate(24 * 10, seed=11)
    full = features.compute_aligned(lower, "1h", "ema", {"length": 5}, "4h").iloc[:, 0].to_numpy()
    for i in range(30, len(lower)):
        prefix = lower.iloc[: i + 1]
        value = features.compute_aligned(prefix, "1h", "ema", {"length": 5}, "4h").iloc[-1, 0]
        assert (np.isnan(value) and np.isnan(full[i])) or value == full[i], f"bar {i} saw the future"


def test_a_leaky_alignment_is_caught_by_the_same_check() -> None:
    """Sanity check of the check: forward-filling by open time (the classic mistake) leaks."""
    lower = synthetic.generate(48, seed=5)
    higher = resample(lower, "4h", from_tf="1h")
    idx = np.searchsorted(higher["time"].to_numpy(), lower["time"].to_numpy(), side="right") - 1
    leaky = higher["close"].to_numpy()[idx]
    assert leaky[0] == lower["close"].iloc[3]  # bar 0 already "knows" the close three hours ahead


def test_unknown_indicator_suggests_names() -> None:
    with pytest.raises(features.FeatureError, match="did you mean"):
        features.compute(synthetic.generate(50), "emaa", {"length": 5})
    with pytest.raises(features.FeatureError, match="unknown param"):
        features.compute(synthetic.generate(50), "ema", {"span": 5})


def test_synthetic_is_deterministic_consistent_and_seeded() -> None:
    a, b = synthetic.generate(2000, seed=42), synthetic.generate(2000, seed=42)
    pd.testing.assert_frame_equal(a, b)
    assert not synthetic.generate(2000, seed=43)["close"].equals(a["close"])
    assert (a["high"] >= a[["open", "close"]].max(axis=1)).all()
    assert (a["low"] <= a[["open", "close"]].min(axis=1)).all()
    assert (a["low"] > 0).all() and (a["volume"] > 0).all()
    # Volatility clustering: |returns| are autocorrelated, unlike i.i.d. noise.
    r = np.abs(np.diff(np.log(a["close"].to_numpy())))
    assert np.corrcoef(r[:-1], r[1:])[0, 1] > 0.05



@pytest.mark.parametrize("weeks", [1, 2])
def test_weekly_bars_start_monday_midnight_utc(weeks: int) -> None:
    """Weekly buckets open Monday 00:00 UTC (not on the epoch's Thursday) and hold whole Monday..Sunday weeks."""
    bars = synthetic.generate(24 * 7 * 6, seed=2, timeframe="1h", start="2024-01-03")  # a Wednesday
    out = resample(bars, f"{weeks}w", from_tf="1h")
    times = pd.DatetimeIndex(out["time"])
    assert (times.dayofweek == 0).all() and (times.hour == 0).all() and (times.minute == 0).all()
    assert times[0] <= bars["time"].iloc[0] < times[0] + pd.Timedelta(weeks=weeks)
    assert (out["n_bars"].iloc[1:-1] == 24 * 7 * weeks).all()  # interior buckets are whole
    full = out.iloc[1]
    inside = bars[(bars["time"] >= full["time"]) & (bars["time"] < full["time"] + pd.Timedelta(weeks=weeks))]
    assert full["open"] == inside["open"].iloc[0] and full["close"] == inside["close"].iloc[-1]
    assert full["high"] == inside["high"].max() and full["low"] == inside["low"].min()


def test_floor_to_bar_week_boundary() -> None:
    ms = pd.DatetimeIndex(["2024-01-07 23:59", "2024-01-08 00:00", "2024-01-11 12:00"], tz="UTC").asi8 // 10**6
    assert pd.to_datetime(floor_to_bar(ms, "1w"), unit="ms", utc=True).strftime("%Y-%m-%d %a").tolist() == [
        "2024-01-01 Mon", "2024-01-08 Mon", "2024-01-08 Mon"]
    assert floor_to_bar(ms, "1d").tolist() == (ms // 86_400_000 * 86_400_000).tolist()  # days stay epoch-aligned
