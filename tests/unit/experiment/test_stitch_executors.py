"""Stitching compounds segment returns; OOS summary follows metrics.py definitions; executor strings."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from auraquant.cta.experiment.executors import ThreadExecutor, make_executor
from auraquant.cta.experiment.stitch import daily_returns, stitch_equity, summarize


def _seg(start: str, navs: list[float], window: int) -> pd.DataFrame:
    t = pd.date_range(start, periods=len(navs), freq="12h", tz="UTC")
    return pd.DataFrame({"time": t, "equity": navs, "window": window})


def test_stitch_compounds_returns_not_pnl() -> None:
    a = _seg("2024-01-01", [100.0, 110.0, 55.0], 0)     # +10%, -50%
    b = _seg("2024-01-03", [120.0, 60.0], 1)            # +20% from capital 100, then -50%
    s = stitch_equity([a, b], 100.0)
    assert s["equity"].tolist() == pytest.approx([100.0, 110.0, 55.0, 66.0, 33.0])
    assert (s["equity"] > 0).all()
    d = daily_returns(s, 100.0)
    assert d.tolist() == pytest.approx([0.10, -0.5, 33.0 / 55.0 - 1])  # last NAV of each UTC day
    with pytest.raises(ValueError, match="overlap"):
        stitch_equity([b, a], 100.0)


def test_summary_matches_direct_formulas() -> None:
    rng = np.random.default_rng(0)
    navs = 100.0 * np.cumprod(1 + rng.normal(0.001, 0.02, 200))
    s = stitch_equity([_seg("2024-01-01", list(navs), 0)], 100.0)
    d = daily_returns(s, 100.0).to_numpy()
    out = summarize(s, 100.0, 365, trades=7, trial_daily_sharpes=rng.normal(0, 0.05, 50), n_trials=50)
    assert out.sharpe == pytest.approx(d.mean() / d.std(ddof=1) * np.sqrt(365))
    assert out.total_return == pytest.approx(navs[-1] / 100 - 1)
    eq = np.concatenate([[100.0], navs])
    assert out.max_drawdown == pytest.approx((eq / np.maximum.accumulate(eq) - 1).min())
    assert out.n_days == 100 and out.trades == 7 and out.dsr_n_trials == 50 and 0 <= out.dsr <= 1


def test_make_executor() -> None:
    ex = make_executor("threads:3")
    assert isinstance(ex, ThreadExecutor) and ex.workers == 3 and ex.engine_threads == 1
    assert sorted(ex.map_unordered(lambda x: x * 2, [1, 2, 3])) == [2, 4, 6]
    assert make_executor("threads:1").engine_threads is None
    with pytest.raises(ValueError, match="unknown executor"):
        make_executor("spark://x")


def test_buy_and_hold_is_stitched_over_the_same_segments() -> None:
    from auraquant.cta.experiment.stitch import stitch_buy_and_hold
    from auraquant.cta.strategy.spec import EngineSettings

    def bars(start: str, opens: list[float], closes: list[float]) -> pd.DataFrame:
        return pd.DataFrame({"time": pd.date_range(start, periods=len(closes), freq="D", tz="UTC"),
                             "open": opens, "close": closes})

    # Segment 1: bought at the open of its 2nd bar (100), sold at its last close (120): +20%.
    # Segment 2 (a gap of days later, the price has moved): bought at 200, sold at 150: -25%.
    a = bars("2024-01-01", [90, 100, 110], [95, 110, 120])
    b = bars("2024-01-10", [210, 200, 180], [205, 190, 150])
    bh, curve = stitch_buy_and_hold([a, b], EngineSettings(initial_capital=100.0))
    assert curve["equity"].tolist() == pytest.approx([100, 110, 120, 120, 114, 90])
    assert curve["time"].tolist() == pd.concat([a["time"], b["time"]]).tolist()
    assert bh.total_return == pytest.approx(1.2 * 0.75 - 1)
    assert bh.max_drawdown == pytest.approx(90 / 120 - 1)
    assert bh.segments == 2 and bh.n_days == 6
    # Held straight through, the gap would count (200 -> 95 is not the same span): stitching must not.
    straight = 150 / 100 - 1
    assert bh.total_return != pytest.approx(straight)
    versus = bh.versus({"total_return": 0.0, "sharpe": 0.5, "max_drawdown": -0.1})
    assert versus.excess_return == pytest.approx(0.1)
    with pytest.raises(ValueError, match="at least one"):
        stitch_buy_and_hold([], EngineSettings())
