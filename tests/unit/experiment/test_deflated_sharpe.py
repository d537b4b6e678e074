"""DSR of a selection against the worked example of Bailey & Lopez de Prado (2014) and basic properties."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from auraquant.cta.backtest.metrics import expected_max_sharpe
from auraquant.cta.experiment.deflated import deflate, deflate_returns, per_period_sharpe, per_period_variance


def test_bailey_lopez_de_prado_2014_worked_example() -> None:
    # 100 trials, annualized trial-SR variance 0.5, selected annualized SR 2.5, 1,250 daily returns,
    # skew -3, kurtosis 10, 250 trading days per year (the paper's numbers).
    v = per_period_variance(0.5, 250)
    sr = per_period_sharpe(2.5, 250)
    d = deflate(sr, n_trials=100, sharpe_variance=v, n_obs=1250, skew=-3, kurtosis=10)
    assert d.sr0 == pytest.approx(0.1132, abs=5e-5)
    assert d.dsr == pytest.approx(0.9004, abs=5e-4)
    assert d.psr0 > d.dsr  # deflating can only lower the probability


def test_expected_max_matches_simulated_maximum_of_noise_sharpes() -> None:
    # Independent check of SR0: the mean of the max of N normal Sharpe estimates.
    rng = np.random.default_rng(3)
    n, sd = 50, 0.05
    sims = rng.normal(0, sd, size=(20_000, n)).max(axis=1).mean()
    assert expected_max_sharpe(n, sd**2) == pytest.approx(sims, rel=0.02)


def test_more_trials_deflate_more() -> None:
    vals = [deflate(0.1, n, 0.002, 1000).dsr for n in (1, 10, 100, 1000)]
    assert all(a > b for a, b in zip(vals, vals[1:], strict=False))
    assert deflate(0.1, 1, 0.002, 1000).dsr == deflate(0.1, 1, 0.002, 1000).psr0


def test_from_returns_uses_sample_moments() -> None:
    rng = np.random.default_rng(0)
    r = rng.standard_t(5, 2000) * 0.01 + 0.001
    trials = rng.normal(0, 0.03, 40)
    d = deflate_returns(r, trials)
    assert d.n_trials == 40 and d.n_obs == 2000
    assert d.kurtosis == pytest.approx(stats.kurtosis(r, fisher=False))
    assert d.sharpe == pytest.approx(r.mean() / r.std(ddof=1))
    assert d.sharpe_variance == pytest.approx(trials.var(ddof=1))
    assert deflate_returns(r, trials, n_trials=4000).dsr < d.dsr


def test_invalid_inputs_raise() -> None:
    with pytest.raises(ValueError):
        deflate(0.1, 0, 0.1, 100)
    with pytest.raises(ValueError):
        deflate_returns(np.ones(10), [0.1, 0.2])
