"""Must-show 1: fixed sizing equals the weighted sum of the members' own backtests (1e-9); every sizing
rule equals a slow, readable pure-Python reference; sweep rows equal single backtests."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from auraquant.cta.backtest.engine import run_backtest
from auraquant.cta.backtest.metrics import nav_metrics
from auraquant.cta.backtest.portfolio import Sizing, run_portfolio_backtest, run_portfolio_sweep
from auraquant.cta.strategy.spec import Spec, apply_params
from tests.support.portfolio_reference import reference_portfolio

COSTS = {"SYN02/USDT": {"commission_bps": 10.0, "slippage_bps": 5.0}}


def _on_calendar(au, i: int, own: np.ndarray, before: float) -> np.ndarray:
    col = np.full(len(au), np.nan)
    col[au.cal_index[i]] = own
    return pd.Series(col).ffill().fillna(before).to_numpy()


@pytest.mark.parametrize("weights", [None, {"SYN01/USDT": 0.5, "SYN02/USDT": 0.3, "SYN03/USDT": 0.15}])
def test_fixed_sizing_is_the_weighted_sum_of_member_backtests(frames, au, spec, weights) -> None:
    sizing = Sizing() if weights is None else Sizing(rule="fixed", weights=weights)
    res = run_portfolio_backtest(au, spec, sizing, member_costs=COSTS)
    C = spec.engine.initial_capital
    w = weights or {s: 1 / 3 for s in au.symbols}
    expected = np.full(len(au), C * (1 - sum(w.values())))
    for i, s in enumerate(au.symbols):
        sp = spec.model_copy(update={"engine": spec.engine.model_copy(update=COSTS.get(s, {}))})
        own = run_backtest(frames[s], sp)
        # each member's report is its own single-instrument backtest, number for number
        assert res.member_metrics[s] == pytest.approx(own.metrics, rel=0, abs=0, nan_ok=True)
        expected += w[s] * _on_calendar(au, i, own.equity["equity"].to_numpy(), C)
    nav = res.equity["equity"].to_numpy()
    assert np.max(np.abs(nav - expected) / expected) < 1e-9
    assert res.metrics["trades"] == sum(m["trades"] for m in res.member_metrics.values())
    m = nav_metrics(au.times_ns.view("datetime64[ns]"), expected, C, 365)
    for k in ("total_return", "sharpe", "max_drawdown", "sortino"):
        assert res.metrics[k] == pytest.approx(m[k], rel=1e-9)


RULES = [
    Sizing(rebalance="day"),
    Sizing(rebalance="bar"),
    Sizing(rule="fixed", weights={"SYN01/USDT": 0.6, "SYN03/USDT": 0.4}, rebalance="day"),
    Sizing(rule="inverse_vol", rebalance="day", vol_lookback=48),
    Sizing(rule="inverse_vol", rebalance="day", vol_lookback=48, target_vol=0.15, target_lookback=96),
    Sizing(rebalance="day", target_vol=0.4, target_lookback=48, gross_cap=0.8),
    Sizing(gross_cap=0.5),  # fixed sizing under a cap: the between-rebalance scale-down alone
]


@pytest.mark.parametrize("sizing", RULES, ids=lambda s: f"{s.rule}-{s.rebalance}-tv{s.target_vol}-cap{s.gross_cap}")
def test_each_sizing_rule_matches_the_pure_python_reference(au, spec, sizing) -> None:
    res = run_portfolio_backtest(au, spec, sizing, member_costs=COSTS)
    ref = reference_portfolio(au, spec, sizing, member_costs=COSTS)
    nav = res.equity["equity"].to_numpy()
    np.testing.assert_allclose(nav, ref.nav, rtol=1e-9, atol=0)
    for i, s in enumerate(au.symbols):
        np.testing.assert_allclose(res.equity[f"units_{s}"].to_numpy(), [u[i] for u in ref.units], rtol=1e-9,
                                   atol=1e-12)
        np.testing.assert_allclose(res.equity[f"nav_{s}"].to_numpy(), ref.member_nav[i], rtol=0, atol=0)
    # the rule moved money: otherwise this test would not tell the rules apart
    assert np.ptp(np.asarray(ref.units)[len(au) // 2:], axis=0).max() > 0 or sizing.rebalance == "none"
    if sizing.gross_cap is not None:
        gross = res.equity["gross"].to_numpy()
        assert gross.max() > 0.2
        # the cap is applied before that close's own rebalance costs: at most a few bps above it
        assert gross.max() <= sizing.gross_cap * 1.002
    # contributions add up to the portfolio's P&L (costs included)
    contrib = sum(res.equity[f"contrib_{s}"].iloc[-1] for s in au.symbols)
    assert contrib == pytest.approx(nav[-1] - spec.engine.initial_capital, rel=1e-9)


def test_sweep_rows_equal_single_backtests_and_are_deterministic(au, spec) -> None:
    sets = [{"baseline.fast": f, "baseline.slow": s} for f in (5, 12) for s in (30, 60)]
    sizing = Sizing(rule="inverse_vol", rebalance="day", vol_lookback=48, gross_cap=1.0)
    table = run_portfolio_sweep(au, spec, sets, sizing)
    again = run_portfolio_sweep(au, spec, sets, sizing, threads=1)
    pd.testing.assert_frame_equal(table, again)
    for k, p in enumerate(sets):
        one = run_portfolio_backtest(au, apply_params(spec, p), sizing, record=False)
        for name in ("total_return", "sharpe", "max_drawdown", "trades", "turnover"):
            assert table.loc[k, name] == one.metrics[name]
        for s in au.symbols:
            assert table.loc[k, f"sharpe__{s}"] == one.member_metrics[s]["sharpe"]
    assert set(table["carriers"]) <= {0, 1, 2, 3}
    assert "dsr" in table and "psr" in table


def test_per_member_params_apply_to_that_member_only(frames, au, spec) -> None:
    res = run_portfolio_backtest(au, spec, member_params={"SYN01/USDT": {"baseline.fast": 20}})
    own = run_backtest(frames["SYN01/USDT"], apply_params(spec, {"baseline.fast": 20}))
    assert res.member_metrics["SYN01/USDT"]["sharpe"] == own.metrics["sharpe"]
    other = run_backtest(frames["SYN02/USDT"], spec)
    assert res.member_metrics["SYN02/USDT"]["sharpe"] == other.metrics["sharpe"]
    with pytest.raises(ValueError, match="outside the universe"):
        run_portfolio_backtest(au, spec, member_params={"NOPE/USDT": {"baseline.fast": 20}})


def test_sizing_validation() -> None:
    with pytest.raises(ValueError):
        Sizing(rule="inverse_vol")  # resizes over time: needs a rebalance schedule
    with pytest.raises(ValueError):
        Sizing(rule="fixed", weights={"A": 0.8, "B": 0.4})
    with pytest.raises(ValueError):
        Sizing(rule="fixed")


@pytest.mark.parametrize("sizing", [Sizing(), Sizing(rule="fixed", weights={"SYN01/USDT": 0.7, "SYN03/USDT": 0.3})])
def test_fixed_sizing_sweep_equals_single_backtests(au, spec, sizing, monkeypatch) -> None:
    """The member-major fixed-sizing sweep (blocks smaller than the set count) gives each set's backtest."""
    from auraquant.cta.backtest import portfolio

    monkeypatch.setattr(portfolio, "FIXED_BLOCK", 3)
    sets = [{"baseline.fast": f, "baseline.slow": s} for f in (5, 9, 12) for s in (30, 60)]
    _sweep_rows_equal_backtests(au, spec, sets, sizing, ("total_return", "sharpe", "max_drawdown", "trades",
                                                         "turnover", "exposure", "profit_factor", "final_position"),
                                record=False)


def _sweep_rows_equal_backtests(au, spec, sets, sizing, names, *, record: bool) -> list:
    """Assert that each row of the portfolio sweep equals its set's own portfolio backtest, bit for bit, on the
    metrics `names` and every member's total return; return those backtests."""
    table = run_portfolio_sweep(au, spec, sets, sizing, member_costs=COSTS)
    runs = []
    for k, p in enumerate(sets):
        one = run_portfolio_backtest(au, apply_params(spec, p), sizing, record=record, member_costs=COSTS)
        for name in names:
            a, b = table.loc[k, name], one.metrics[name]
            assert a == b or (np.isnan(a) and np.isnan(b)), (k, name, a, b)
        for s in au.symbols:
            assert table.loc[k, f"total_return__{s}"] == one.member_metrics[s]["total_return"]
        runs.append(one)
    return runs


def test_fixed_sizing_sweep_on_complete_members_equals_recorded_runs_including_ruin(monkeypatch) -> None:
    """Members without gaps take the sink path (the kernel adds each member's NAV and trades into the block
    itself, nothing recorded): every portfolio and member metric equals the recorded run's, bit for bit,
    also for sets that ruin a member (leveraged entries) and for both sides."""
    from auraquant.cta.backtest import portfolio
    from auraquant.cta.backtest.layout import METRIC_NAMES
    from auraquant.cta.data.synthetic import generate_correlated
    from auraquant.cta.universe.align import align

    monkeypatch.setattr(portfolio, "FIXED_BLOCK", 4)
    fr = generate_correlated(3, 1200, seed=5, correlation=0.5, drift_scale=3.0)
    fr[list(fr)[2]] = fr[list(fr)[2]].iloc[100:1000].reset_index(drop=True)  # late listing, early delisting
    au = align(fr)
    spec = Spec(baseline={"name": "ema_cross", "params": {"fast": 8, "slow": 40}},
                execution={"name": "trailing_pct", "params": {"pct": 0.03}},
                risk=[{"name": "fixed_fraction", "params": {"fraction": 1.0}},
                      {"name": "leverage_cap", "params": {"max_leverage": 100.0}}],
                engine={"commission_bps": 5.0, "slippage_bps": 2.0, "sides": "both"})
    sets = [{"baseline.fast": f, "risk.fixed_fraction.fraction": x} for f in (4, 9, 15) for x in (0.5, 2.0, 60.0)]
    runs = _sweep_rows_equal_backtests(au, spec, sets, Sizing(), METRIC_NAMES, record=True)
    ruined = sum(int(one.member_metrics[s]["ruined"]) for one in runs for s in au.symbols)
    assert ruined > 0  # the leveraged sets do ruin members: the sink's ruin path is exercised
