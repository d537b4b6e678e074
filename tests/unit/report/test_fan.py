from __future__ import annotations

import numpy as np
import pytest

from auraquant.cta.experiment.montecarlo import trade_order_mc
from auraquant.cta.report.fan import trade_bootstrap_fan


def test_fan_final_step_is_the_experiment_bootstrap_distribution() -> None:
    r = np.random.default_rng(5).normal(0.01, 0.05, 60)
    fan = trade_bootstrap_fan(r, n_sims=400, seed=11)
    mc = trade_order_mc(r, n_sims=400, seed=11, mode="bootstrap")
    for q, path in fan.quantiles.items():
        assert path[-1] == pytest.approx(float(np.quantile(1.0 + mc.final_return, q)), rel=1e-12)
    assert fan.x == list(range(61)) and fan.n_sims == 400 and fan.seed == 11
    np.testing.assert_allclose(fan.observed, np.concatenate([[1.0], np.cumprod(1 + r)]))


def test_fan_quantiles_are_ordered_and_start_at_one() -> None:
    fan = trade_bootstrap_fan(np.random.default_rng(1).normal(0, 0.03, 40), n_sims=200, seed=0)
    paths = np.array([fan.quantiles[q] for q in sorted(fan.quantiles)])
    assert np.all(paths[:, 0] == 1.0)
    assert np.all(np.diff(paths, axis=0) >= 0)
    assert np.all(paths >= 0)


def test_fan_rejects_absolute_pnl() -> None:
    with pytest.raises(ValueError, match=">= -1"):
        trade_bootstrap_fan([0.1, -250.0, 3.0])
    with pytest.raises(ValueError, match="at least 2"):
        trade_bootstrap_fan([0.1])
