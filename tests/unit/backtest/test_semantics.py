"""Hand-computed scenarios for each documented kernel rule (engine docstring items 2-8)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from auraquant.cta.backtest import kernel
from auraquant.cta.backtest.engine import run_backtest
from auraquant.cta.backtest.layout import EXIT_REASONS, T_ENTRY_BAR, T_EXIT_BAR, T_EXIT_PRICE, T_REASON, M
from auraquant.cta.backtest.prepare import prepare
from auraquant.cta.strategy.bars import bars_from_frame
from auraquant.cta.strategy.spec import Spec


def _frame(rows: list[tuple[float, float, float, float]]) -> pd.DataFrame:
    o, h, lo, c = (np.array(x, dtype=float) for x in zip(*rows, strict=True))
    t = pd.date_range("2024-01-01", periods=len(rows), freq="h", tz="UTC")
    return pd.DataFrame({"time": t, "open": o, "high": h, "low": lo, "close": c, "volume": 1.0})


def _run(rows, cand, execution=(), **engine):
    spec = Spec(baseline={"name": "ema_cross"}, execution=list(execution), engine=engine)
    prep = prepare(bars_from_frame(_frame(rows)), spec)
    # Scripted candidates replace the baseline's output: these tests are about the kernel rules.
    prep.sig_pool[prep.iparams[0, 0]] = np.array(cand, dtype=np.int8)
    return kernel.simulate(*prep.kernel_args(0), True)


FLAT = (100.0, 100.5, 99.5, 100.0)


def test_next_open_fill_and_gap_through_stop_fills_at_open() -> None:
    rows = [FLAT, FLAT, (100.0, 101.0, 99.0, 100.0), (95.0, 96.0, 94.0, 95.0), FLAT]
    res = _run(rows, [0, 1, 0, 0, 0], [{"name": "fixed_sltp", "params": {"sl_pct": 0.02}}])
    tr = res[6]
    assert len(tr) == 1
    assert tr[0, T_ENTRY_BAR] == 2 and tr[0, 4] == 100.0  # entered at the open after the signal bar
    assert tr[0, T_EXIT_BAR] == 3 and tr[0, T_EXIT_PRICE] == 95.0  # gap below the 98 stop: open fill
    assert EXIT_REASONS[int(tr[0, T_REASON])] == "stop_loss"


def test_stop_touched_intrabar_fills_at_stop_price_with_slippage() -> None:
    rows = [FLAT, FLAT, (100.0, 101.0, 97.0, 99.0), FLAT]
    res = _run(rows, [0, 1, 0, 0], [{"name": "fixed_sltp", "params": {"sl_pct": 0.02}}], slippage_bps=10.0,
               commission_bps=5.0, initial_capital=1000.0)
    tr = res[6]
    assert tr[0, T_ENTRY_BAR] == 2 and tr[0, T_EXIT_BAR] == 2  # stop active on the entry bar
    assert tr[0, 4] == pytest.approx(100.0 * 1.001)  # buy fill slipped up
    assert tr[0, T_EXIT_PRICE] == pytest.approx(98.0 * 0.999)  # stop from the market price, slipped down
    qty = 1000.0 / 100.1
    fees = qty * 100.1 * 5e-4 + qty * 98.0 * 0.999 * 5e-4
    assert tr[0, 7] == pytest.approx(fees)
    assert tr[0, 6] == pytest.approx(qty * (98.0 * 0.999 - 100.1) - fees)


@pytest.mark.parametrize(("policy", "bar", "expected"), [
    ("stop_first", (100.0, 104.0, 97.0, 101.0), "stop_loss"),
    ("ohlc_path", (100.0, 104.0, 97.0, 101.0), "stop_loss"),    # low is nearer to the open: O-L-H-C
    ("ohlc_path", (100.0, 103.5, 95.0, 101.0), "take_profit"),  # high is nearer: O-H-L-C
    ("ohlc_path", (100.0, 104.0, 96.0, 101.0), "stop_loss"),    # tie: stop
    ("candle_color", (100.0, 104.0, 97.0, 99.0), "take_profit"),  # red: O-H-L-C
    ("candle_color", (100.0, 104.0, 97.0, 101.0), "stop_loss"),   # green: O-L-H-C
])
def test_sl_and_tp_in_one_bar_follow_the_policy(policy: str, bar, expected: str) -> None:
    rows = [FLAT, FLAT, bar, FLAT]
    res = _run(rows, [0, 1, 0, 0], [{"name": "fixed_sltp", "params": {"sl_pct": 0.02, "tp_pct": 0.03}}],
               intrabar=policy)
    tr = res[6]
    assert EXIT_REASONS[int(tr[0, T_REASON])] == expected
    assert tr[0, T_EXIT_PRICE] == (98.0 if expected == "stop_loss" else 103.0)


def test_short_policy_mirrors_long() -> None:
    rows = [FLAT, FLAT, (100.0, 102.5, 96.0, 99.0), FLAT]  # short: SL 102, TP 97; red candle -> O-H-L-C
    res = _run(rows, [0, -1, 0, 0], [{"name": "fixed_sltp", "params": {"sl_pct": 0.02, "tp_pct": 0.03}}],
               intrabar="candle_color")
    assert EXIT_REASONS[int(res[6][0, T_REASON])] == "stop_loss" and res[6][0, T_EXIT_PRICE] == 102.0


def test_reversal_in_one_step_and_same_direction_ignored() -> None:
    rows = [FLAT] * 6
    res = _run(rows, [1, 1, 0, -1, 0, 0])
    tr = res[6]
    assert len(tr) == 1 and tr[0, T_ENTRY_BAR] == 1 and tr[0, T_EXIT_BAR] == 4  # second +1 ignored
    assert res[2][4] < 0 and res[2][3] > 0  # short from the same open the long closed


def test_same_close_fills_at_the_signal_close_and_is_flagged() -> None:
    rows = [FLAT, (100.0, 101.0, 99.0, 100.7), (100.7, 102.0, 100.0, 101.5), FLAT]
    res = _run(rows, [0, 1, -1, 0], fill="same_close")
    tr = res[6]
    assert tr[0, T_ENTRY_BAR] == 1 and tr[0, 4] == 100.7 and tr[0, T_EXIT_PRICE] == 101.5
    frame = _frame(rows)
    report = run_backtest(frame, Spec(baseline={"name": "ema_cross"}, engine={"fill": "same_close"})).report
    assert report.fill_optimistic and report.fill == "same_close"


def test_sides_long_turns_short_candidates_into_exits() -> None:
    res = _run([FLAT] * 5, [1, 0, -1, 0, 0], sides="long")
    assert len(res[6]) == 1 and (res[2][3:] == 0).all()


def test_trailing_stop_ratchets_from_the_best_high() -> None:
    rows = [FLAT, FLAT, (100.0, 110.0, 99.5, 109.0), (109.0, 109.5, 104.0, 105.0), FLAT]
    res = _run(rows, [0, 1, 0, 0, 0], [{"name": "trailing_pct", "params": {"pct": 0.05}}])
    tr = res[6]
    # after bar 2 the best price is 110 -> trail 104.5, touched by bar 3's low of 104
    assert tr[0, T_EXIT_BAR] == 3 and tr[0, T_EXIT_PRICE] == pytest.approx(104.5)
    assert EXIT_REASONS[int(tr[0, T_REASON])] == "trailing_stop"


def test_time_stop_exits_after_n_bars() -> None:
    res = _run([FLAT] * 8, [1, 0, 0, 0, 0, 0, 0, 0], [{"name": "time_stop", "params": {"bars": 3}}])
    assert res[6][0, T_ENTRY_BAR] == 1 and res[6][0, T_EXIT_BAR] == 4
    assert EXIT_REASONS[int(res[6][0, T_REASON])] == "time_stop"


def test_record_false_gives_identical_metrics() -> None:
    rng = np.random.default_rng(3)
    c = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, 3000)))
    frame = _frame([(x, x * 1.01, x * 0.99, x) for x in c])
    spec = Spec(baseline={"name": "ema_cross", "params": {"fast": 5, "slow": 20}},
                execution={"name": "fixed_sltp", "params": {"sl_pct": 0.01}}, engine={"commission_bps": 10})
    a, b = run_backtest(frame, spec), run_backtest(frame, spec, record=False)
    assert a.metrics == b.metrics and a.report == b.report
    assert a.report.trades == len(a.trades) and b.trades is None
    assert a.metrics["final_nav"] == a.equity["equity"].iloc[-1]
    assert M["trades"] >= 0


def test_decision_records_explain_rejections() -> None:
    from auraquant.cta.backtest.records import filter_decisions, risk_decisions
    from tests.support.random_specs import random_bars

    frame = random_bars(np.random.default_rng(8), 800)
    spec = Spec(baseline={"name": "ema_cross", "params": {"fast": 3, "slow": 9}},
                filters=[{"name": "adx_trend", "params": {"period": 5, "min_adx": 25}}],
                execution=[{"name": "fixed_sltp", "params": {"sl_pct": 0.005}}],
                risk=[{"name": "fixed_fraction"}, {"name": "cooldown", "params": {"bars": 10}}])
    res = run_backtest(frame, spec)
    fd, rd = filter_decisions(res.filter_decisions), risk_decisions(res.risk_decisions)
    assert any(not d.passed and d.reason == "ADX below min_adx" for d in fd)
    assert any(d.passed for d in fd)
    assert any(not d.approved and d.reason == "cooldown after loss" for d in rd)
    approved = [d for d in rd if d.approved]
    assert approved and all(d.size == 1.0 for d in approved)
    # every approved decision at bar i (next_open) opens a trade at bar i + 1
    assert {d.bar + 1 for d in approved} >= set(res.trades["entry_bar"])
    steps = res.steps
    assert (steps.loc[steps["risk_code"] == 0, "size"] == 1.0).all()
    assert ((steps["filter_pass"] >= 0) == (steps["candidate"] != 0)).sum() > 0
