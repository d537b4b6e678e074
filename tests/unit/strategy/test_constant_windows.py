"""Window statistics are exact on constant windows (hand-computed), and what depends on them behaves:
vol_target sizes nothing from a flat window, flat windows produce no Bollinger/Donchian breakouts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from auraquant.cta.backtest import kernel
from auraquant.cta.backtest.layout import RISK_APPROVED, RISK_NO_VOL
from auraquant.cta.backtest.prepare import prepare
from auraquant.cta.strategy.bars import bars_from_frame
from auraquant.cta.strategy.indicators import equal_run, log_returns, rolling_std, sma
from auraquant.cta.strategy.loader import load_module
from auraquant.cta.strategy.spec import Spec


def _noisy_then_flat(flat: float = 0.1, n_noise: int = 50, n_flat: int = 30) -> np.ndarray:
    rng = np.random.default_rng(1)
    return np.concatenate([rng.normal(0.0, 1.0, n_noise) * 1e3, np.full(n_flat, flat)])


def test_equal_run_hand_computed() -> None:
    x = np.array([1.0, 1.0, 2.0, 2.0, 2.0, np.nan, np.nan, 3.0])
    assert list(equal_run(x)) == [1, 2, 1, 2, 3, 1, 1, 1]


def test_rolling_std_hand_computed_and_exactly_zero_on_constant_window() -> None:
    out = rolling_std(np.array([1.0, 2.0, 3.0, 5.0, 5.0, 5.0, 5.0]), 3)
    assert np.isnan(out[:2]).all()
    assert out[2] == 1.0                                         # {1,2,3}: var (1+0+1)/2 = 1
    assert out[3] == pytest.approx(np.sqrt(7.0 / 3.0), rel=1e-15)  # {2,3,5}: mean 10/3, ss 14/3
    assert out[4] == pytest.approx(np.sqrt(4.0 / 3.0), rel=1e-15)  # {3,5,5}: mean 13/3, ss 8/3
    assert out[5] == 0.0 and out[6] == 0.0                        # {5,5,5}: exactly 0


def test_rolling_std_after_large_moves_is_exactly_zero() -> None:
    """The reported case: sliding sums leave a residue (7e-6 here) once large values left the window."""
    x = _noisy_then_flat()
    out = rolling_std(x, 20)
    assert (out[69:] == 0.0).all()  # every window of 20 flat values
    assert out[68] > 0  # the last window still holding a noisy value


def test_near_constant_window_is_recomputed_exactly() -> None:
    x = _noisy_then_flat()
    x[-3] = 0.1 + 1e-9
    expected = float(np.std(x[-20:], ddof=1))  # sqrt((1e-18 (1 - 1/20)) / 19) = 2.236e-10
    assert expected == pytest.approx(np.sqrt(1e-18 * 0.95 / 19), rel=1e-6)
    assert rolling_std(x, 20)[-1] == pytest.approx(expected, rel=1e-9)


def test_flat_log_returns_give_zero_volatility() -> None:
    rng = np.random.default_rng(2)
    close = np.concatenate([100 * np.exp(np.cumsum(rng.normal(0, 0.05, 300))), np.full(200, 1234.5)])
    vol = rolling_std(log_returns(close), 48)
    assert (vol[300 + 48:] == 0.0).all()


def test_sma_of_a_constant_window_is_the_value() -> None:
    x = np.full(5, 0.1)
    assert np.full(3, 0.1).sum() / 3 != 0.1  # the naive mean is off in the last bit
    assert list(sma(x, 3)[2:]) == [0.1, 0.1, 0.1]
    y = np.array([1.0, 2.0, 3.0, 4.0])
    assert list(sma(y, 2)[1:]) == [1.5, 2.5, 3.5]


def test_prefix_property_kept() -> None:
    x = _noisy_then_flat()
    full_std, full_sma = rolling_std(x, 20), sma(x, 20)
    for k in (21, 55, 69, 70, 75):
        np.testing.assert_array_equal(rolling_std(x[:k], 20), full_std[:k])
        np.testing.assert_array_equal(sma(x[:k], 20), full_sma[:k])


def _frame(close: np.ndarray, spread: float = 0.0) -> pd.DataFrame:
    t = pd.date_range("2024-01-01", periods=close.size, freq="h", tz="UTC")
    return pd.DataFrame({"time": t, "open": close, "high": close * (1 + spread), "low": close * (1 - spread),
                         "close": close, "volume": 1.0})


def test_vol_target_sizes_nothing_from_a_flat_window() -> None:
    rng = np.random.default_rng(3)
    close = np.concatenate([100 * np.exp(np.cumsum(rng.normal(0, 0.02, 100))), np.full(100, 150.0)])
    spec = Spec(baseline={"name": "ema_cross"}, risk=[{"name": "vol_target", "params": {"lookback": 24}}])
    prep = prepare(bars_from_frame(_frame(close)), spec)
    cand = np.zeros(close.size, dtype=np.int8)
    cand[60] = 1    # noisy window: approved with size target / vol
    cand[150] = -1  # window of 24 zero returns: vol exactly 0 -> rejected, no 4e7 x NAV position
    prep.sig_pool[prep.iparams[0, 0]] = cand
    _m, _eq, position, _fc, rcode, size, _tr = kernel.simulate(*prep.kernel_args(0), True)
    assert rcode[60] == RISK_APPROVED and 0 < size[60] < 100
    assert rcode[150] == RISK_NO_VOL and np.isnan(size[150])
    # rule 6: the opposite candidate closes the long at the bar-151 open; the short is never opened
    assert position[150] > 0 and (position[151:] == 0.0).all()


@pytest.mark.parametrize("flat", [0.1, 150.0, 1234.5678])
def test_flat_windows_produce_no_breakouts(flat: float) -> None:
    rng = np.random.default_rng(4)
    close = np.concatenate([flat * np.exp(np.cumsum(rng.normal(0, 0.02, 80))), np.full(120, flat)])
    bars = bars_from_frame(_frame(close))
    boll = load_module("baselines", "bollinger_breakout")
    for k in (0.0, 2.0):
        cand = boll.candidates(bars, {"period": 20, "k": k})
        assert not cand[80 + 20:].any(), (k, np.flatnonzero(cand[100:]) + 100)
    flat_bars = bars_from_frame(_frame(close, spread=0.0))
    don = load_module("baselines", "donchian_breakout").candidates(flat_bars, {"period": 20})
    assert not don[80 + 20:].any()
