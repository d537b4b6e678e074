"""Monte Carlo on compounding returns: bounded drawdown, invariants, independent recomputation."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auraquant.cta.experiment.montecarlo import block_bootstrap_mc, trade_order_mc


def _stats_of(path_returns: np.ndarray) -> tuple[float, float]:
    eq = np.concatenate([[1.0], np.cumprod(1 + path_returns)])
    return eq[-1] - 1, float((eq / np.maximum.accumulate(eq) - 1).min())


def test_large_losses_never_exceed_minus_100_percent() -> None:
    # The jesse#607 case: big losing trades. Absolute-PnL shuffling would go below zero; returns cannot.
    r = np.array([0.5, -0.6, 0.4, -0.7, 0.9, -0.95, 0.3, -1.0 + 1e-9, 0.2] * 5)
    for res in (trade_order_mc(r, n_sims=300, seed=1, mode="shuffle"),
                trade_order_mc(r, n_sims=300, seed=1, mode="bootstrap"),
                block_bootstrap_mc(r, n_sims=300, seed=1, mean_block=3)):
        assert (res.max_drawdown >= -1.0).all()
        assert (res.final_return >= -1.0).all()


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(min_value=-1.0, max_value=3.0), min_size=2, max_size=60), st.integers(0, 10))
def test_property_drawdown_and_equity_bounded(returns: list[float], seed: int) -> None:
    r = np.array(returns)
    for res in (trade_order_mc(r, n_sims=20, seed=seed), block_bootstrap_mc(r, n_sims=20, seed=seed,
                                                                            mean_block=2.0)):
        assert ((res.max_drawdown >= -1.0) & (res.max_drawdown <= 0.0)).all()
        assert (res.final_return >= -1.0).all()


def test_shuffle_keeps_final_return_and_sharpe_but_changes_drawdown() -> None:
    rng = np.random.default_rng(0)
    r = rng.normal(0.01, 0.05, 200)
    res = trade_order_mc(r, n_sims=200, seed=3, mode="shuffle", trades_per_year=50)
    final, mdd = _stats_of(r)
    assert np.allclose(res.final_return, final, rtol=1e-9)
    assert np.allclose(res.sharpe, r.mean() / r.std(ddof=1) * np.sqrt(50), rtol=1e-9)
    assert res.max_drawdown.std() > 0
    s = res.summary(0.9)
    assert s["max_drawdown"]["ci_low"] < s["max_drawdown"]["ci_high"] <= 0


def test_bootstrap_paths_match_an_independent_recomputation() -> None:
    # Re-draw the same indices with the same generator and recompute the statistics in plain numpy.
    rng_r = np.random.default_rng(9)
    r = rng_r.normal(0.002, 0.02, 300)
    res = trade_order_mc(r, n_sims=5, seed=42, mode="bootstrap")
    rng = np.random.default_rng(42)
    for i in range(5):
        path = r[rng.integers(0, r.size, r.size)]
        final, mdd = _stats_of(path)
        assert res.final_return[i] == pytest.approx(final, rel=1e-12)
        assert res.max_drawdown[i] == pytest.approx(mdd, rel=1e-12)
        assert res.sharpe[i] == pytest.approx(path.mean() / path.std(ddof=1), rel=1e-9)


def test_block_bootstrap_is_deterministic_and_keeps_blocks() -> None:
    r = np.random.default_rng(1).normal(0.0005, 0.01, 1000)
    a = block_bootstrap_mc(r, n_sims=100, seed=5, mean_block=20)
    b = block_bootstrap_mc(r, n_sims=100, seed=5, mean_block=20)
    assert np.array_equal(a.final_return, b.final_return) and np.array_equal(a.sharpe, b.sharpe)
    # With a block as long as the series (p -> 0) each path is a rotation: same final return as the data.
    c = block_bootstrap_mc(r, n_sims=20, seed=5, mean_block=1e12)
    assert np.allclose(c.final_return, np.prod(1 + r) - 1, rtol=1e-9)
    # The default block length comes from arch and runs.
    assert block_bootstrap_mc(r, n_sims=10, seed=5).n_sims == 10


def test_absolute_pnl_is_rejected() -> None:
    with pytest.raises(ValueError, match="absolute PnL"):
        trade_order_mc(np.array([150.0, -230.0, 80.0]))
