"""Engine rule 10 (ruin) with hand-computed expectations: liquidation, NAV 0 afterwards, capped Sharpe,
flags in the metrics and the Report, and ruined runs ranked last by searches and sweep tables."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pandas as pd
import pytest

from auraquant.cta.backtest import kernel
from auraquant.cta.backtest.engine import run_backtest
from auraquant.cta.backtest.layout import (
    EXIT_REASONS,
    METRIC_NAMES,
    T_EXIT_BAR,
    T_EXIT_PRICE,
    T_PNL,
    T_REASON,
    M,
)
from auraquant.cta.backtest.metrics import add_trial_statistics, build_report, nav_metrics, rank_rows
from auraquant.cta.backtest.prepare import prepare
from auraquant.cta.experiment.config import SearchConfig
from auraquant.cta.experiment.search import RUINED_SCORE, UNDEFINED_SCORE, score
from auraquant.cta.strategy.bars import bars_from_frame
from auraquant.cta.strategy.spec import Spec
from tests.support.reference_engine import ReferenceEngine


def _frame(rows: list[tuple[float, float, float, float]], freq: str = "h") -> pd.DataFrame:
    o, h, lo, c = (np.array(x, dtype=float) for x in zip(*rows, strict=True))
    t = pd.date_range("2024-01-01", periods=len(rows), freq=freq, tz="UTC")
    return pd.DataFrame({"time": t, "open": o, "high": h, "low": lo, "close": c, "volume": 1.0})


def _prep(rows, cand, fraction: float, execution=(), freq: str = "h", **engine):
    spec = Spec(baseline={"name": "ema_cross"}, execution=list(execution),
                risk=[{"name": "fixed_fraction", "params": {"fraction": fraction}}],
                engine={"initial_capital": 1000.0, **engine})
    prep = prepare(bars_from_frame(_frame(rows, freq)), spec)
    # Scripted candidates: these tests are about the kernel's ruin rule, not a baseline.
    prep.sig_pool[prep.iparams[0, 0]] = np.array(cand, dtype=np.int8)
    return prep


FLAT = (100.0, 100.5, 99.5, 100.0)


def _check_reference(prep) -> None:
    """The pure-Python reference (written from the docstring) agrees with the kernel on this scenario."""
    vec = kernel.simulate(*prep.kernel_args(0), False)[0]
    ref = ReferenceEngine(prep).run()
    for i, name in enumerate(METRIC_NAMES):
        a, b = float(vec[i]), float(ref.metrics[name])
        assert (math.isnan(a) and math.isnan(b)) or a == pytest.approx(b, rel=1e-12, abs=1e-12), name


def test_ruin_at_close_liquidates_and_nav_stays_zero() -> None:
    # Long 5x NAV at the open of bar 1 (100); bar 2 closes at 79: NAV = 1000 + 50 x (79 - 100) = -50 <= 0.
    rows = [FLAT, FLAT, (100.0, 100.0, 78.0, 79.0), (79.0, 130.0, 79.0, 130.0), (130.0, 131.0, 129.0, 130.0)]
    prep = _prep(rows, [1, 0, 0, 1, 0], 5.0)
    vec, equity, position, _fc, rcode, _sz, trades = kernel.simulate(*prep.kernel_args(0), True)
    assert list(equity) == [1000.0, 1000.0, 0.0, 0.0, 0.0]
    assert list(position) == [0.0, 50.0, 0.0, 0.0, 0.0]
    assert len(trades) == 1
    assert EXIT_REASONS[int(trades[0, T_REASON])] == "ruin"
    assert trades[0, T_EXIT_BAR] == 2 and trades[0, T_EXIT_PRICE] == 79.0
    assert trades[0, T_PNL] == pytest.approx(50 * (79.0 - 100.0))  # the trade books the whole loss (-1050)
    assert rcode[3] == -1  # no decision after ruin: the bar-3 candidate is not even evaluated
    assert vec[M["ruined"]] == 1.0 and vec[M["ruin_bar"]] == 2.0
    assert vec[M["total_return"]] == -1.0 and vec[M["ann_return"]] == -1.0
    assert vec[M["max_drawdown"]] == -1.0 and vec[M["final_nav"]] == 0.0
    # All five hourly bars are one UTC day: its single daily return is 0 / 1000 - 1 = -1.
    assert vec[M["n_days"]] == 1 and vec[M["daily_mean"]] == -1.0
    _check_reference(prep)


def test_ruin_at_a_stop_fill_with_costs() -> None:
    # Long 10x at 100 (slippage 10 bps: fill 100.1, qty = 10 x 1000 / 100.1), stop 20% below the market
    # price (80) is touched on bar 2 and fills at 80 x 0.999: NAV = cash after the exit <= 0 -> ruin.
    rows = [FLAT, FLAT, (100.0, 100.0, 70.0, 95.0), (95.0, 96.0, 94.0, 95.0)]
    prep = _prep(rows, [1, 0, 0, 0], 10.0, [{"name": "fixed_sltp", "params": {"sl_pct": 0.2}}],
                 slippage_bps=10.0, commission_bps=5.0)
    vec, equity, _pos, _fc, _rc, _sz, trades = kernel.simulate(*prep.kernel_args(0), True)
    qty = 10 * 1000.0 / 100.1
    entry_fee = qty * 100.1 * 5e-4
    fill = 80.0 * 0.999
    cash = 1000.0 - qty * 100.1 - entry_fee + qty * fill - qty * fill * 5e-4
    assert cash < 0  # the hand computation says: ruin
    assert EXIT_REASONS[int(trades[0, T_REASON])] == "stop_loss" and trades[0, T_EXIT_PRICE] == pytest.approx(fill)
    assert list(equity[2:]) == [0.0, 0.0]
    assert vec[M["ruined"]] == 1.0 and vec[M["ruin_bar"]] == 2.0 and vec[M["total_return"]] == -1.0
    _check_reference(prep)


def test_short_ruin_over_days_caps_sharpe_and_later_days_return_zero() -> None:
    # Daily bars. Short 2x at 100 on day 1; day 2 closes 120 (NAV 1000 - 20 x 20 = 600, return -0.4);
    # day 3 closes 151: NAV = 1000 + (-20) x 51 = -20 <= 0 -> liquidated at 151, NAV 0 (return -1);
    # days 4 and 5 return 0.
    rows = [FLAT, FLAT, (100.0, 121.0, 100.0, 120.0), (120.0, 152.0, 119.0, 151.0), (151.0, 152.0, 150.0, 151.0),
            (151.0, 152.0, 150.0, 151.0)]
    prep = _prep(rows, [-1, 0, 0, 0, 0, 0], 2.0, freq="D")
    vec = kernel.simulate(*prep.kernel_args(0), False)[0]
    daily = np.array([0.0, 0.0, -0.4, -1.0, 0.0, 0.0])
    assert vec[M["n_days"]] == 6
    assert vec[M["daily_mean"]] == pytest.approx(daily.mean())
    assert vec[M["daily_std"]] == pytest.approx(daily.std(ddof=1))
    # Negative mean: the usual Sharpe (already <= 0) is kept.
    assert vec[M["sharpe"]] == pytest.approx(daily.mean() / daily.std(ddof=1) * math.sqrt(365))
    assert vec[M["ruin_bar"]] == 3.0 and vec[M["calmar"]] == -1.0
    _check_reference(prep)


def test_positive_daily_mean_before_ruin_still_gives_no_positive_sharpe() -> None:
    # Daily bars, long 1x: +100% on day 2 (NAV 2000), +100% on day 3 (NAV 4000), then 3x leverage into a
    # gap that wipes it out on day 5. Mean daily return > 0, yet the run is ruined: Sharpe capped at 0.
    rows = [FLAT, FLAT, (100.0, 200.0, 100.0, 200.0), (200.0, 400.0, 200.0, 400.0), (400.0, 401.0, 10.0, 10.0)]
    prep = _prep(rows, [1, 0, 0, 0, 0], 1.0, freq="D")
    vec = kernel.simulate(*prep.kernel_args(0), False)[0]
    # 1x long can never take NAV below 0 on a positive price: not ruined, Sharpe positive.
    assert vec[M["ruined"]] == 0.0
    prep = _prep(rows, [1, 0, 0, 0, 0], 3.0, freq="D")
    vec = kernel.simulate(*prep.kernel_args(0), False)[0]
    # qty 30: NAV 1000 -> 4000 (day 2) -> 10000 (day 3) -> 1000 + 30 x (10 - 100) < 0 on day 4 close.
    daily = np.array([0.0, 0.0, 3.0, 1.5, -1.0])
    assert daily.mean() > 0
    assert vec[M["daily_mean"]] == pytest.approx(daily.mean())
    assert vec[M["ruined"]] == 1.0 and vec[M["sharpe"]] == 0.0 and vec[M["sortino"]] <= 0.0
    assert vec[M["total_return"]] == -1.0
    report = build_report(vec, spec_id="x", data_from="a", data_to="b", bars=5, annualization_basis=365,
                          fill="next_open", fill_optimistic=False, intrabar_policy="stop_first", commission_bps=0,
                          slippage_bps=0, initial_capital=1000.0, open_position_at_end=False, semantics="")
    assert report.ruined and report.ruin_bar == 4 and report.sharpe == 0.0
    assert report.psr is not None and report.psr <= 0.5  # the PSR uses the capped (zero) Sharpe
    _check_reference(prep)


def test_runs_that_never_reach_ruin_are_flagged_clean() -> None:
    rows = [FLAT, FLAT, (100.0, 101.0, 99.0, 100.5), FLAT]
    prep = _prep(rows, [1, 0, 0, 0], 1.0)
    vec = kernel.simulate(*prep.kernel_args(0), False)[0]
    assert vec[M["ruined"]] == 0.0 and vec[M["ruin_bar"]] == -1.0


def test_report_carries_ruin_flag_and_time() -> None:
    # ts_momentum(lookback 1) goes long at the close of bar 1 (101 > 100); filled at the bar-2 open (101) at
    # 5x: qty = 5000 / 101; bar 2 closes at 79: NAV = 1000 + qty x (79 - 101) = -89.1 -> ruin at bar 2.
    rows = [FLAT, (100.0, 101.5, 99.5, 101.0), (101.0, 101.0, 78.0, 79.0), FLAT]
    spec = Spec(baseline={"name": "ts_momentum", "params": {"lookback": 1}},
                risk=[{"name": "fixed_fraction", "params": {"fraction": 5.0}}],
                engine={"initial_capital": 1000.0})
    res = run_backtest(_frame(rows), spec)
    assert res.report.ruined is True and res.report.ruin_bar == 2
    assert res.report.ruin_time == "2024-01-01 02:00:00+00:00"
    assert res.report.total_return == -1.0 and res.report.final_nav == 0.0
    assert res.trades is not None and list(res.trades["exit_reason"]) == ["ruin"]
    assert res.trades["pnl"].iloc[0] == pytest.approx(5000.0 / 101.0 * (79.0 - 101.0))
    assert res.equity is not None and list(res.equity["equity"]) == [1000.0, 1000.0, 0.0, 0.0]
    assert run_backtest(_frame(rows), spec, record=False).report == res.report


def test_nav_metrics_flags_a_curve_that_reaches_zero() -> None:
    times = pd.date_range("2024-01-01", periods=4, freq="D", tz="UTC")
    m = nav_metrics(times, np.array([1100.0, 0.0, 0.0, 0.0]), 1000.0, 365)
    assert m["ruined"] == 1.0 and m["total_return"] == -1.0
    # daily: +0.1, -1, 0, 0 (no NaN after the ruin)
    daily = np.array([0.1, -1.0, 0.0, 0.0])
    assert m["daily_mean"] == pytest.approx(daily.mean())
    assert m["sharpe"] <= 0.0


def test_rank_rows_and_search_score_put_ruined_runs_last() -> None:
    table = pd.DataFrame({"sharpe": [0.0, -3.0, np.nan, 1.0], "ruined": [1.0, 0.0, 0.0, 0.0],
                          "trades": [5, 5, 5, 5]})
    assert list(rank_rows(table, "sharpe").index) == [3, 1, 2, 0]
    s = score(table, SearchConfig())
    assert s[0] == RUINED_SCORE and RUINED_SCORE < UNDEFINED_SCORE
    assert np.argmin(s) == 0 and s[3] == 1.0


def test_trial_statistics_use_the_capped_sharpe() -> None:
    table = pd.DataFrame({"daily_mean": [0.01, 0.01], "daily_std": [0.02, 0.02], "n_days": [100, 100],
                          "skew": [0.0, 0.0], "kurtosis": [3.0, 3.0], "ruined": [0.0, 1.0]})
    out = add_trial_statistics(table)
    assert out["psr"].iloc[0] > 0.99
    assert out["psr"].iloc[1] == pytest.approx(0.5)  # capped Sharpe 0 against 0


def test_kernel_matches_reference_on_leveraged_random_specs_that_reach_ruin() -> None:
    """Randomized specs at 30-80x leverage (most reach ruin, at closes and at stop fills, in both fill
    modes): the compiled kernel (all its fast paths) equals the pure-Python reference bar by bar."""
    from tests.support.random_specs import random_bars, random_spec
    from tests.unit.backtest.test_kernel_parity import assert_parity

    ruined = 0
    events: Counter[str] = Counter()
    for seed in range(40):
        rng = np.random.default_rng(10_000 + seed)
        bars = bars_from_frame(random_bars(rng, int(rng.integers(150, 400))))
        spec = random_spec(rng)
        lev = float(rng.uniform(30.0, 80.0))
        spec = spec.model_copy(update={"risk": [r for r in spec.risk if r.name in ("cooldown", "drawdown_breaker")]
                                       + [type(spec.risk[0])(name="fixed_fraction", params={"fraction": lev})]})
        prep = prepare(bars, spec)
        events += assert_parity(prep, f"seed={seed}")
        ruined += int(kernel.simulate(*prep.kernel_args(0), False)[0][M["ruined"]])
    assert ruined >= 10, ruined
    # both checkpoints exercised: ruin at a close (liquidation) and ruin right after a fill
    assert events["ruin_at_close"] > 0 and events["ruin"] > events["ruin_at_close"], events


def test_stitched_out_of_sample_summary_flags_a_ruined_curve() -> None:
    from auraquant.cta.experiment.stitch import daily_returns, summarize

    times = pd.date_range("2024-01-01", periods=6, freq="D", tz="UTC")
    # +50%, +20%, then a ruined target segment: NAV 0 for the rest
    stitched = pd.DataFrame({"time": times, "equity": [1500.0, 1800.0, 2700.0, 0.0, 0.0, 0.0]})
    d = daily_returns(stitched, 1000.0).to_numpy()
    np.testing.assert_allclose(d, [0.5, 0.2, 0.5, -1.0, 0.0, 0.0], rtol=1e-12)  # no NaN after the ruin
    assert d.mean() > 0
    out = summarize(stitched, 1000.0, 365, trades=3, trial_daily_sharpes=np.array([0.1, 0.3, -0.2]), n_trials=3)
    assert out.ruined and out.total_return == -1.0 and out.max_drawdown == -1.0
    assert out.sharpe == 0.0  # capped: the mean daily return is positive
    assert out.dsr is not None and out.dsr <= 0.5


def test_leveraged_sweep_on_real_btc_ranks_ruined_runs_last(shared_data) -> None:
    """BTCUSDT daily, EMA(10/40) cross at 0.5x..20x NAV. Before ruin existed the 20x run reported a total
    return of -5,187% with a positive Sharpe (+0.39), above the 8x run. Now both leveraged runs are ruined
    (liquidated, NAV 0, total return -100%, Sharpe <= 0) and rank below every other set."""
    from auraquant.cta.backtest.engine import run_sweep

    frame = pd.read_parquet(shared_data / "binance_BTCUSDT_1d_2017-2025.parquet")
    spec = Spec(baseline={"name": "ema_cross", "params": {"fast": 10, "slow": 40}},
                risk=[{"name": "fixed_fraction"}], engine={"commission_bps": 5})
    fractions = (20.0, 0.5, 8.0, 1.0, 3.0)
    table = run_sweep(frame, spec, [{"risk.fixed_fraction.fraction": x} for x in fractions])
    ruined = table[table["ruined"] > 0]
    assert sorted(ruined["risk.fixed_fraction.fraction"]) == [8.0, 20.0]
    assert (ruined["total_return"] == -1.0).all() and (ruined["sharpe"] <= 0).all()
    assert (ruined["final_nav"] == 0.0).all() and (ruined["max_drawdown"] == -1.0).all()
    assert (table.loc[table["ruined"] == 0, "total_return"] > -1.0).all()
    ranked = rank_rows(table, "sharpe")
    assert list(ranked["risk.fixed_fraction.fraction"])[-2:] == [20.0, 8.0]  # input order among the ruined
    s = score(table, SearchConfig())
    assert set(np.argsort(s)[:2]) == {0, 2}
