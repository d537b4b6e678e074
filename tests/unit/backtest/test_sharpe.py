"""One Sharpe definition (`auraquant.cta.backtest.sharpe`): its degenerate cases, its compiled and NumPy forms
agreeing to the bit, and the consumers that must use it."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from numba import njit

from auraquant.cta.backtest import kernel, layout
from auraquant.cta.backtest.layout import (
    M_DAILY_MEAN,
    M_DAILY_STD,
    M_N_DAYS,
    M_RUINED,
    M_SHARPE,
    METRIC_NAMES,
)
from auraquant.cta.backtest.metrics import daily_sharpe, nav_metrics, table_daily_sharpe
from auraquant.cta.backtest.prepare import prepare
from auraquant.cta.backtest.sharpe import NOISE, sharpe_of_returns, sharpe_ratio, sharpe_value
from auraquant.cta.experiment.montecarlo import block_bootstrap_mc
from auraquant.cta.experiment.pbo import _sharpe_from_sums
from auraquant.cta.experiment.significance import _oos_daily_sharpe
from auraquant.cta.strategy.bars import bars_from_frame
from tests.support.random_specs import random_bars, random_spec

_compiled = njit(sharpe_value)


def test_named_metric_indices_are_the_metric_names() -> None:
    for i, name in enumerate(METRIC_NAMES):
        assert getattr(layout, f"M_{name.upper()}") == i == layout.M[name]


@pytest.mark.parametrize(("mean", "std", "n"), [
    (0.01, 0.0, 100), (0.01, np.nan, 100), (0.01, 0.02, 1), (0.01, 0.02, 0), (0.0, 0.0, 5), (0.01, -1.0, 10),
    (None, 0.02, 10), (0.01, None, 10)])
def test_undefined_cases_are_nan(mean: float | None, std: float | None, n: int) -> None:
    assert math.isnan(sharpe_ratio(mean, std, n))
    if mean is not None and std is not None:
        assert math.isnan(_compiled(mean, std, n, False, 1.0))


def test_fewer_than_two_returns_or_constant_returns_are_undefined() -> None:
    assert math.isnan(sharpe_of_returns(np.array([0.01])))
    assert math.isnan(sharpe_of_returns(np.array([])))
    assert math.isnan(sharpe_of_returns(np.full(30, 0.002)))
    with pytest.raises(ValueError):
        sharpe_of_returns(np.zeros((2, 2)))


def test_ruin_caps_at_zero_and_keeps_nan() -> None:
    assert sharpe_ratio(0.01, 0.02, 50, ruined=True) == 0.0
    assert sharpe_ratio(-0.01, 0.02, 50, ruined=True) == -0.5
    assert math.isnan(sharpe_ratio(0.01, 0.0, 50, ruined=True))
    assert _compiled(0.01, 0.02, 50, True, 19.0) == 0.0
    assert _compiled(-0.01, 0.02, 50, True, 2.0) == -1.0
    np.testing.assert_array_equal(sharpe_ratio(np.array([0.01, -0.01, 0.01]), 0.02, 50,
                                               ruined=np.array([True, True, False])), [0.0, -0.5, 0.5])


def test_annualization_is_sqrt_of_periods() -> None:
    assert sharpe_ratio(0.001, 0.01, 400, periods_per_year=365) == 0.1 * math.sqrt(365)
    assert sharpe_ratio(0.001, 0.01, 400, periods_per_year=252) == 0.1 * math.sqrt(252)


def test_numpy_and_compiled_forms_are_bit_identical() -> None:
    rng = np.random.default_rng(3)
    mean = rng.normal(0, 0.01, 2_000)
    std = np.abs(rng.normal(0, 0.02, 2_000))
    std[::17] = 0.0
    n = rng.integers(0, 500, 2_000)
    ruined = rng.random(2_000) < 0.2
    for basis in (1.0, 252.0, 365.0):
        vec = sharpe_ratio(mean, std, n, ruined=ruined, periods_per_year=basis)
        one = np.array([_compiled(a, b, c, d, math.sqrt(basis)) for a, b, c, d in zip(mean, std, n, ruined,
                                                                                    strict=True)])
        np.testing.assert_array_equal(vec, one)


def test_kernel_sharpe_is_the_definition_to_the_bit() -> None:
    """The reported (annualized) Sharpe of the kernel and the per-day Sharpe behind PSR/DSR both equal the
    Python form applied to the vector's own moments, ruined runs included."""
    seen_ruined = 0
    for seed in range(60):
        rng = np.random.default_rng(seed)
        prep = prepare(bars_from_frame(random_bars(rng, 300)), random_spec(rng))
        vec = kernel.simulate(*prep.kernel_args(0), False)[0]
        ruined = vec[M_RUINED] > 0
        seen_ruined += ruined
        expected = sharpe_ratio(vec[M_DAILY_MEAN], vec[M_DAILY_STD], vec[M_N_DAYS], ruined=ruined,
                                periods_per_year=prep.basis)
        assert np.array_equal(vec[M_SHARPE], expected, equal_nan=True), seed
        per_day = sharpe_ratio(vec[M_DAILY_MEAN], vec[M_DAILY_STD], vec[M_N_DAYS], ruined=ruined)
        assert np.array_equal(daily_sharpe(vec), per_day, equal_nan=True)


def test_trial_tables_cap_ruined_rows_and_leave_undefined_nan() -> None:
    table = pd.DataFrame({"daily_mean": [0.01, 0.01, -0.01, 0.02], "daily_std": [0.02, 0.02, 0.02, 0.0],
                          "n_days": [30, 30, 30, 30], "ruined": [0.0, 1.0, 1.0, 0.0]})
    np.testing.assert_array_equal(table_daily_sharpe(table), [0.5, 0.0, -0.5, np.nan])
    np.testing.assert_array_equal(table_daily_sharpe(table.drop(columns="ruined")), [0.5, 0.5, -0.5, np.nan])


def test_oos_significance_sharpe_uses_the_convention() -> None:
    o = SimpleNamespace(daily_mean=0.01, daily_std=0.02, n_days=40, ruined=False)
    assert _oos_daily_sharpe(o) == 0.5
    assert _oos_daily_sharpe(SimpleNamespace(**{**vars(o), "ruined": True})) == 0.0
    assert _oos_daily_sharpe(SimpleNamespace(**{**vars(o), "daily_std": None})) is None
    assert _oos_daily_sharpe(SimpleNamespace(**{**vars(o), "daily_std": 0.0})) is None


def test_rank_consumers_score_undefined_as_zero_explicitly() -> None:
    """PBO ranks need a number for every trial: a zero-variance trial scores 0 (documented at the call)."""
    s = np.array([0.5, 0.2, 0.3])
    ss = np.array([0.06, 0.008, 0.03])
    got = _sharpe_from_sums(s, ss, 5)
    mean = s / 5
    sd = np.sqrt(np.maximum(ss - 5 * mean**2, 0.0) / 4)
    assert sd[1] == 0.0 and got[1] == 0.0  # 5 x 0.04^2 = 0.008: no variance
    np.testing.assert_array_equal(got[[0, 2]], sharpe_ratio(mean, sd, 5)[[0, 2]])
    assert got[0] > 0 and got[2] > 0
    mc = block_bootstrap_mc(np.full(50, 0.001), n_sims=20, seed=1, periods_per_year=365)
    assert (mc.sharpe == 0.0).all()


def test_equal_returns_have_no_variance_anywhere() -> None:
    """A NAV growing by the same factor every day: the residuals of a rounded mean must not fake a deviation
    (they would give a Sharpe of ~1e15), in the kernel (via `nav_metrics`) and in the Python forms."""
    days = 60
    times = pd.date_range("2022-01-01", periods=days, freq="1D", tz="UTC").as_unit("ns").asi8
    nav = 1_000.0 * np.cumprod(np.full(days, 1.003))
    m = nav_metrics(times, nav, 1_000.0, 365)
    assert 0.0 <= m["daily_std"] < 1e-15
    assert math.isnan(m["sharpe"])
    assert math.isnan(sharpe_of_returns(np.full(30, 0.002)))
    assert math.isnan(sharpe_ratio(0.002, 0.002 * NOISE, 30))
    assert sharpe_ratio(0.002, 0.002 * NOISE * 2, 30) == pytest.approx(0.5 / NOISE)
    assert math.isnan(_compiled(0.002, 0.002 * NOISE, 30, False, 1.0))
