"""Buy and hold beside every backtest: hand-computed numbers on tiny series, the fill conventions, the excess,
and a cross-check against an always-long Spec run through the engine."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from auraquant.cta.backtest.engine import run_backtest
from auraquant.cta.backtest.metrics import BuyAndHold, buy_and_hold, buy_and_hold_metrics, buy_and_hold_nav
from auraquant.cta.strategy.spec import Spec
from tests.support.random_specs import random_bars

BENCH_DIR = Path(__file__).resolve().parents[2] / "support" / "benchmark_runtime"


def _daily_bars(opens: list[float], closes: list[float]) -> pd.DataFrame:
    """One bar per UTC day (so each bar's close is a daily NAV observation)."""
    n = len(closes)
    return pd.DataFrame({"time": pd.date_range("2024-01-01", periods=n, freq="D", tz="UTC"), "open": opens,
                         "high": np.maximum(opens, closes), "low": np.minimum(opens, closes), "close": closes,
                         "volume": 1.0})


def _bh(frame: pd.DataFrame, **kw: object) -> BuyAndHold:
    return buy_and_hold(frame["time"], frame["open"], frame["close"], **kw)  # type: ignore[arg-type]


def test_next_open_no_costs_by_hand() -> None:
    # Bought at the open of day 2 (100), closes 100 -> 110 -> 99 -> 121 on days 2..5.
    f = _daily_bars([90, 100, 108, 100, 120], [95, 100, 110, 99, 121])
    bh = _bh(f, fill="next_open", initial=1000.0, basis=365)
    nav = np.array([1000, 1000, 1100, 990, 1210], dtype=float)
    assert np.allclose(buy_and_hold_nav(f["open"], f["close"], fill="next_open", commission_bps=0,
                                        slippage_bps=0, initial=1000.0), nav, rtol=0, atol=1e-9)
    daily = np.array([0.0, 0.0, 0.1, -0.1, 1210 / 990 - 1])  # first day over the initial capital
    sharpe = daily.mean() / daily.std(ddof=1) * math.sqrt(365)
    assert bh.total_return == pytest.approx(0.21, abs=1e-12)
    assert bh.sharpe == pytest.approx(sharpe, rel=1e-12)
    assert bh.max_drawdown == pytest.approx(990 / 1100 - 1, abs=1e-12)  # 1100 -> 990: -10%
    assert bh.n_days == 5 and bh.segments == 1
    assert bh.ann_return == pytest.approx(1.21 ** (365 / 5) - 1, rel=1e-12)


def test_same_close_enters_at_the_first_close() -> None:
    f = _daily_bars([90, 100, 108, 100, 120], [95, 100, 110, 99, 121])
    bh = _bh(f, fill="same_close", initial=1000.0)
    assert bh.total_return == pytest.approx(121 / 95 - 1, abs=1e-12)
    # peak 1000 * 110/95 then 99/95: drawdown 99/110 - 1
    assert bh.max_drawdown == pytest.approx(99 / 110 - 1, abs=1e-12)


def test_costs_one_entry_and_one_exit() -> None:
    f = _daily_bars([100, 100, 100], [100, 100, 120])
    comm, slip = 10.0, 20.0  # bps per side
    nav = buy_and_hold_nav(f["open"], f["close"], fill="next_open", commission_bps=comm, slippage_bps=slip,
                           initial=1000.0)
    e_fill = 100 * 1.002
    qty = 1000 / e_fill
    cash = 1000 - qty * e_fill * 1.001
    x_fill = 120 * 0.998
    assert nav[0] == 1000.0
    assert nav[1] == pytest.approx(cash + qty * 100, abs=1e-9)  # marked at the close, entry costs paid
    assert nav[2] == pytest.approx(cash + qty * x_fill * (1 - 0.001), abs=1e-9)  # exit at the last close
    bh = _bh(f, fill="next_open", commission_bps=comm, slippage_bps=slip, initial=1000.0)
    assert bh.total_return == pytest.approx(nav[2] / 1000 - 1, abs=1e-12)
    assert bh.total_return < 0.2  # costs are charged on both sides


def test_one_bar_next_open_never_enters() -> None:
    f = _daily_bars([100], [150])
    bh = _bh(f, fill="next_open")
    assert bh.total_return == 0.0 and bh.max_drawdown == 0.0 and bh.sharpe is None


def test_excess_is_strategy_minus_buy_and_hold() -> None:
    f = _daily_bars([90, 100, 108, 100, 120], [95, 100, 110, 99, 121])
    bh = _bh(f, initial=1000.0).versus({"total_return": 0.5, "sharpe": 1.0, "max_drawdown": -0.05})
    assert bh.excess_return == pytest.approx(0.5 - 0.21, abs=1e-12)
    assert bh.excess_sharpe == pytest.approx(1.0 - bh.sharpe, abs=1e-12)  # type: ignore[operator]
    assert bh.excess_max_drawdown == pytest.approx(-0.05 - (990 / 1100 - 1), abs=1e-12)
    flat = {"bh_total_return": bh.total_return, "bh_sharpe": bh.sharpe, "bh_max_drawdown": bh.max_drawdown,
            "excess_return": bh.excess_return, "excess_sharpe": bh.excess_sharpe}
    assert buy_and_hold_metrics(bh) == flat == buy_and_hold_metrics(bh.model_dump())
    undefined = _bh(f).versus({"total_return": 0.1, "sharpe": None, "max_drawdown": -0.1})
    assert undefined.excess_sharpe is None and undefined.excess_return is not None
    assert set(buy_and_hold_metrics(None).values()) == {None}


def test_bad_inputs_refused() -> None:
    with pytest.raises(ValueError, match="fill"):
        buy_and_hold_nav([1.0], [1.0], fill="tomorrow", commission_bps=0, slippage_bps=0, initial=1.0)
    with pytest.raises(ValueError, match="non-zero length"):
        buy_and_hold_nav([], [], fill="next_open", commission_bps=0, slippage_bps=0, initial=1.0)


@pytest.mark.parametrize("fill", ["next_open", "same_close"])
def test_always_long_spec_through_the_engine_matches(fill: str) -> None:
    """An always-long Spec sized 1.0 x NAV is buy and hold: every mark before the last bar is bit-identical;
    the last differs by exactly the exit (the engine keeps the position open, buy and hold sells it)."""
    bars = random_bars(np.random.default_rng(5), 600)
    spec = Spec(name="always-long", baseline={"name": "always_long"},
                engine={"fill": fill, "commission_bps": 7.0, "slippage_bps": 3.0})
    res = run_backtest(bars, spec, extra_dir=BENCH_DIR)
    assert res.equity is not None and res.trades is not None and len(res.trades) == 0
    eng = res.equity["equity"].to_numpy()
    bh_nav = res.equity["buy_and_hold"].to_numpy()
    assert np.array_equal(eng[:-1], bh_nav[:-1])
    qty = res.metrics["final_position"]
    x_fill = bars["close"].iloc[-1] * (1 - 3e-4)
    expected_last = eng[-1] - qty * bars["close"].iloc[-1] + qty * x_fill * (1 - 7e-4)
    assert bh_nav[-1] == pytest.approx(expected_last, rel=1e-13)
    bh = res.report.buy_and_hold
    assert bh is not None and bh.total_return == pytest.approx(bh_nav[-1] / 10_000 - 1, rel=1e-12)
    assert bh.excess_return == pytest.approx(res.report.total_return - bh.total_return, abs=1e-15)
    # Without costs the engine and buy and hold agree on every number.
    free = spec.model_copy(update={"engine": spec.engine.model_copy(update={"commission_bps": 0.0,
                                                                            "slippage_bps": 0.0})})
    r0 = run_backtest(bars, free, extra_dir=BENCH_DIR, record=False)
    b0 = r0.report.buy_and_hold
    assert b0 is not None
    for k in ("total_return", "sharpe", "max_drawdown", "sortino", "ann_volatility"):
        assert getattr(b0, k) == pytest.approx(getattr(r0.report, k), rel=1e-12), k
    assert b0.excess_sharpe == pytest.approx(0.0, abs=1e-12)


def test_report_carries_buy_and_hold_of_the_same_bars() -> None:
    bars = random_bars(np.random.default_rng(8), 400)
    spec = Spec(name="ema", baseline={"name": "ema_cross", "params": {"fast": 5, "slow": 20}},
                engine={"commission_bps": 5.0, "slippage_bps": 1.0})
    rep = run_backtest(bars, spec, record=False).report
    direct = _bh(bars, fill="next_open", commission_bps=5.0, slippage_bps=1.0, initial=10_000.0, basis=365)
    assert rep.buy_and_hold is not None
    assert rep.buy_and_hold.model_dump(exclude={"excess_return", "excess_sharpe", "excess_max_drawdown"}) == \
        direct.model_dump(exclude={"excess_return", "excess_sharpe", "excess_max_drawdown"})
    assert rep.buy_and_hold.excess_sharpe == pytest.approx(rep.sharpe - direct.sharpe)  # type: ignore[operator]
