"""Metric helpers: PSR/DSR against vectorbt's independent implementation and their defining properties."""

from __future__ import annotations

import math

import numpy as np
import pytest

from auraquant.cta.backtest.metrics import (
    deflated_sharpe_ratio,
    expected_max_sharpe,
    probabilistic_sharpe_ratio,
)


def test_dsr_matches_vectorbt_formula() -> None:
    vbt_metrics = pytest.importorskip("vectorbt.returns.metrics", reason="peers extra not installed")
    sr, var, n, t, skew, kurt = 0.08, 0.002, 100, 1250, -0.5, 6.0
    ours = deflated_sharpe_ratio(sr, t, skew, kurt, n, var)
    theirs = vbt_metrics.deflated_sharpe_ratio(est_sharpe=np.array([sr]), var_sharpe=var, nb_trials=n,
                                               backtest_horizon=t, skew=np.array([skew]),
                                               kurtosis=np.array([kurt]))[0]
    assert ours == pytest.approx(theirs, rel=1e-12)
    assert expected_max_sharpe(n, var) == pytest.approx(vbt_metrics.approx_exp_max_sharpe(0, var, n), rel=1e-12)


def test_psr_normal_case_and_dsr_properties() -> None:
    # Normal returns (skew 0, kurtosis 3): PSR = Phi(SR sqrt(n-1) / sqrt(1 + SR^2 / 2)).
    sr, n = 0.05, 1000
    expected = 0.5 * (1 + math.erf(sr * math.sqrt(n - 1) / math.sqrt(1 + sr**2 / 2) / math.sqrt(2)))
    assert probabilistic_sharpe_ratio(sr, n, 0.0, 3.0) == pytest.approx(expected, rel=1e-12)
    assert deflated_sharpe_ratio(sr, n, 0.0, 3.0, 1, 0.01) == probabilistic_sharpe_ratio(sr, n, 0.0, 3.0)
    dsr = [deflated_sharpe_ratio(sr, n, 0.0, 3.0, k, 0.001) for k in (2, 10, 100, 1000)]
    assert all(a > b for a, b in zip(dsr, dsr[1:], strict=False))  # more trials -> less confidence
    assert math.isnan(probabilistic_sharpe_ratio(sr, 1, 0.0, 3.0))


def test_nav_metrics_reproduce_a_backtests_return_metrics() -> None:
    """`nav_metrics` (used for stitched OOS curves) and the kernel report share one definition of each metric."""
    from auraquant.cta.backtest.engine import run_backtest
    from auraquant.cta.backtest.metrics import RETURN_METRICS, nav_metrics
    from auraquant.cta.strategy.spec import Spec
    from tests.support.random_specs import random_bars

    bars = random_bars(np.random.default_rng(5), 3000)
    spec = Spec(baseline={"name": "ema_cross", "params": {"fast": 5, "slow": 21}},
                execution=[{"name": "trailing_pct", "params": {"pct": 0.03}}], engine={"commission_bps": 5.0})
    res = run_backtest(bars, spec)
    got = nav_metrics(res.equity["time"], res.equity["equity"].to_numpy(), spec.engine.initial_capital, 365)
    want = res.metrics
    assert res.report.trades > 5
    for name in RETURN_METRICS:
        assert got[name] == pytest.approx(want[name], rel=1e-12, abs=1e-15, nan_ok=True), name
