"""Must-show 3: a bar missing on one member never creates a trade, a fill or a return on it (planted gaps,
a late listing, an early delisting, and the real outages of the shared BTC/ETH 1h data)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from auraquant.cta.backtest.portfolio import PortfolioResult, Sizing, run_portfolio_backtest
from auraquant.cta.strategy.spec import Spec
from auraquant.cta.universe.align import AlignedUniverse, align

SIZINGS = [Sizing(), Sizing(rebalance="bar"), Sizing(rule="inverse_vol", rebalance="day", vol_lookback=48,
                                                     target_vol=0.3, target_lookback=48, gross_cap=1.5)]


def assert_nothing_happens_on_missing_bars(au: AlignedUniverse, res: PortfolioResult) -> int:
    """Every member, every calendar bar it does not have: no fill (no trade enters or exits there), no
    return (its NAV, position notional and contribution are unchanged from the previous calendar bar), no
    trading by the portfolio (its units are unchanged). Returns the number of missing member-bars checked."""
    eq = res.equity
    assert eq is not None and res.trades is not None
    checked = 0
    for i, s in enumerate(au.symbols):
        missing = np.flatnonzero(~au.mask[i])
        if missing.size == 0:
            continue
        own_times = set(au.bars[i].time_ns.tolist())
        tr = res.trades[res.trades["symbol"] == s]
        assert au.mask[i, tr["entry_bar"].to_numpy()].all() and au.mask[i, tr["exit_bar"].to_numpy()].all()
        assert {t.value for t in tr["entry_time"]} <= own_times
        assert {t.value for t in tr["exit_time"]} <= own_times
        gap = missing[missing > 0]
        for col in (f"nav_{s}", f"notional_{s}", f"units_{s}", f"contrib_{s}"):
            v = eq[col].to_numpy()
            np.testing.assert_array_equal(v[gap], v[gap - 1], err_msg=f"{col} moved on a missing bar")
        # the universe's price matrix is NaN there: nothing was filled in
        assert np.isnan(au.prices("close")[i, missing]).all()
        checked += missing.size
    return checked


@pytest.mark.parametrize("sizing", SIZINGS, ids=["fixed", "bar", "ivol-tv-cap"])
def test_planted_gaps_listing_and_delisting(au, spec, sizing) -> None:
    res = run_portfolio_backtest(au, spec, sizing)
    assert assert_nothing_happens_on_missing_bars(au, res) >= 33 + 150 + 300
    # members did trade around the gaps (the check above is not vacuous)
    assert res.trades is not None and res.trades["symbol"].nunique() == 3


def test_a_member_result_ignores_other_members_bars(frames, spec) -> None:
    """Removing bars from B changes nothing on A (A's own bars are all it sees)."""
    base = run_portfolio_backtest(align(frames), spec)
    fewer = dict(frames)
    fewer["SYN02/USDT"] = frames["SYN02/USDT"].drop(index=range(900, 1000)).reset_index(drop=True)
    other = run_portfolio_backtest(align(fewer), spec)
    assert other.member_metrics["SYN01/USDT"] == base.member_metrics["SYN01/USDT"]
    assert other.member_metrics["SYN02/USDT"] != base.member_metrics["SYN02/USDT"]


def test_a_filled_gap_would_have_traded_differently(frames, spec) -> None:
    """Sanity of the test's premise: forward-filling the outage into B's bars changes B's trades, so the
    aligned run (which does not) is a real difference, not a coincidence."""
    au = align(frames)
    res = run_portfolio_backtest(au, spec)
    b = frames["SYN02/USDT"].set_index("time").reindex(au.times()[:1200]).ffill()
    filled = b.reset_index().rename(columns={"index": "time"})
    res_f = run_portfolio_backtest(align({"SYN02/USDT": filled}), spec)
    assert res.trades is not None and res_f.trades is not None
    own = res.trades[(res.trades["symbol"] == "SYN02/USDT") & (res.trades["exit_bar"] < 1200)]
    assert len(own) != len(res_f.trades) or not np.array_equal(own["pnl"].to_numpy(), res_f.trades["pnl"].to_numpy())


def test_union_calendar_and_mask() -> None:
    t = pd.date_range("2024-01-01", periods=6, freq="1h", tz="UTC")
    mk = lambda idx: pd.DataFrame({"time": t[idx], "open": 1.0, "high": 1.0, "low": 1.0, "close": 1.0,  # noqa: E731
                                   "volume": 1.0})
    au = align({"A": mk([0, 1, 2, 5]), "B": mk([1, 2, 3, 4])})
    assert au.times().tolist() == t.tolist()
    assert au.mask.tolist() == [[True, True, True, False, False, True], [False, True, True, True, True, False]]
    assert au.first.tolist() == [0, 1] and au.last.tolist() == [5, 4]
    assert np.isnan(au.prices()[0, 3]) and np.isnan(au.prices()[1, 0])
    with pytest.raises(ValueError, match="one timeframe"):
        align({"A": mk([0, 1, 2]), "B": mk([0, 2, 4])})


@pytest.mark.slow
def test_real_gaps_in_the_shared_btc_eth_data(shared_data) -> None:
    """The shared 1h files have real exchange outages (hours without a bar). ETH is cut to start later and
    to end earlier (a listing and a delisting inside the span) and B gets one more outage of its own."""
    btc = pd.read_parquet(shared_data / "binance_BTCUSDT_1h_2017-2026.parquet").iloc[:14_000]
    eth = pd.read_parquet(shared_data / "binance_ETHUSDT_1h_2017-2026.parquet").iloc[2_000:12_000]
    eth = eth.drop(eth.index[5_000:5_012]).reset_index(drop=True)
    btc = btc.reset_index(drop=True)
    au = align({"BTC/USDT": btc, "ETH/USDT": eth})
    # outages of the exchange itself are hours absent from the calendar: never a bar, never a price
    step = np.diff(au.times_ns)
    assert (step > au.bar_ns).sum() >= 5
    spec = Spec(baseline={"name": "ema_cross", "params": {"fast": 12, "slow": 48}},
                execution={"name": "trailing_pct", "params": {"pct": 0.04}},
                engine={"commission_bps": 10.0, "slippage_bps": 2.0})
    for sizing in (Sizing(), Sizing(rule="inverse_vol", rebalance="day", vol_lookback=168, gross_cap=1.0)):
        res = run_portfolio_backtest(au, spec, sizing)
        assert assert_nothing_happens_on_missing_bars(au, res) >= 2_000 + 12 + 2_000
        # no trade of either member spans a calendar bar that is not in its own bars without being marked:
        # every fill time is one of the member's own bar times (checked above); a position held over an
        # outage is repriced only at the next real bar
        gaps_in = np.flatnonzero(step > au.bar_ns)
        assert gaps_in.size and res.trades is not None and len(res.trades) > 20
