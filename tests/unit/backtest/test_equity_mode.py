"""The kernel's equity-only recording mode (`kernel.simulate_equity`, what a portfolio member runs) delivers
exactly what full recording would: the same metrics, w x the NAV curve added into the caller's array, the
bars in a position, and the closed trades pooled with weight w, bit for bit."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from auraquant.cta.backtest import kernel
from auraquant.cta.backtest.layout import T_EXIT_PRICE, T_NOTIONAL, T_PNL, T_QTY, M
from auraquant.cta.backtest.prepare import Prepared, prepare
from auraquant.cta.strategy.bars import bars_from_frame
from auraquant.cta.strategy.spec import Spec
from tests.support.random_specs import random_bars, random_spec


def _pooled(trades: np.ndarray, w: float) -> np.ndarray:
    """The portfolio's pooled trade statistics (`kernel.PT_*`) from a full trade record, in trade order."""
    st = np.zeros(8)
    for r in range(trades.shape[0]):
        pnl = trades[r, T_PNL] * w
        st[kernel.PT_NTR] += 1.0
        st[kernel.PT_RET] += trades[r, T_PNL] / trades[r, T_NOTIONAL]
        st[kernel.PT_PNL] += pnl
        st[kernel.PT_TRADED] += (trades[r, T_NOTIONAL] + trades[r, T_QTY] * trades[r, T_EXIT_PRICE]) * w
        if pnl > 0:
            st[kernel.PT_WINS] += 1.0
            st[kernel.PT_GP] += pnl
        elif pnl < 0:
            st[kernel.PT_GL] -= pnl
    return st


def _assert_equity_mode(prep: Prepared, w: float, rng: np.random.Generator, ctx: str) -> np.ndarray:
    args = prep.kernel_args(0)
    metrics, equity, position, _fc, _rc, _sz, trades = kernel.simulate(*args, True)
    n = equity.shape[0]
    base = rng.uniform(0.0, 1e4, n)  # a portfolio row other members already added into
    out = base.copy()
    stats = np.zeros(8)
    inpos = np.zeros(n, dtype=np.uint8)
    m = kernel.simulate_equity(*args[:5], kernel.day_ends(args[4]), *args[5:], out, w, stats, inpos)
    assert np.array_equal(m, metrics, equal_nan=True), ctx
    assert np.array_equal(out, base + w * equity), ctx  # each bar added exactly once, same products
    assert np.array_equal(inpos, (position != 0.0).astype(np.uint8)), ctx
    assert np.array_equal(stats, _pooled(trades, w)), ctx
    return metrics


def test_equity_mode_equals_full_recording_on_random_specs() -> None:
    ruined = trades = shorts_or_stops = 0
    for seed in range(40):
        rng = np.random.default_rng(seed)
        bars = bars_from_frame(random_bars(rng, int(rng.integers(150, 450))))
        spec = random_spec(rng)
        m = _assert_equity_mode(prepare(bars, spec), float(rng.choice([1.0, 0.37, 0.05])), rng, f"seed={seed}")
        ruined += int(m[M["ruined"]])
        trades += int(m[M["trades"]])
        shorts_or_stops += int(spec.engine.sides != "long" or bool(spec.execution))
    assert trades > 100 and shorts_or_stops > 5  # the random specs exercised trading, both sides, exits


def test_equity_mode_after_ruin_adds_nothing_past_the_ruin_bar() -> None:
    """A leveraged long into a crash is liquidated; later bars get w x 0 (nothing) added, no position."""
    n = 48
    close = np.r_[np.full(10, 100.0), np.full(n - 10, 20.0)]
    t = pd.date_range("2024-01-01", periods=n, freq="h", tz="UTC")
    frame = pd.DataFrame({"time": t, "open": close, "high": close * 1.001, "low": close * 0.999, "close": close,
                          "volume": 1.0})
    spec = Spec(baseline={"name": "ema_cross"}, risk=[{"name": "fixed_fraction", "params": {"fraction": 3.0}}],
                engine={"initial_capital": 1000.0})
    prep = prepare(bars_from_frame(frame), spec)
    cand = np.zeros(n, dtype=np.int8)
    cand[3] = 1
    prep.sig_pool[prep.iparams[0, 0]] = cand  # scripted entry: the test is about recording, not a baseline
    m = _assert_equity_mode(prep, 0.5, np.random.default_rng(1), "ruin")
    assert m[M["ruined"]] == 1.0


@pytest.mark.parametrize("w", [0.0, 1.0])
def test_equity_mode_weight_edge_values(w: float) -> None:
    rng = np.random.default_rng(7)
    bars = bars_from_frame(random_bars(rng, 300))
    _assert_equity_mode(prepare(bars, random_spec(rng)), w, rng, f"w={w}")
