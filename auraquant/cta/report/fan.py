"""Monte Carlo fan: quantile paths of trade-bootstrapped equity, for the tearsheet's robustness chart.

The scheme is exactly `auraquant.cta.experiment.montecarlo.trade_order_mc(mode="bootstrap")`: simulation
i draws `rng.integers(0, n, n)` from `np.random.default_rng(seed)` and compounds equity_t =
prod_{s<=t} (1 + r_s) from 1.0. So with the same returns and seed, the fan's final-step distribution is
the distribution of `1 + final_return` that the experiment's robustness statistics report. Here the whole
path is kept and reduced to per-step quantiles (linear interpolation).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from auraquant.cta.report.model import MonteCarloFan

DEFAULT_QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)


def trade_bootstrap_fan(trade_returns: Sequence[float] | np.ndarray, *, n_sims: int = 1000, seed: int = 0,
                        quantiles: Sequence[float] = DEFAULT_QUANTILES) -> MonteCarloFan:
    """Fan over trade number 0..n (0 = start at 1.0) of `n_sims` bootstrapped compounding paths.

    `trade_returns` are per-trade compounding returns (net pnl / equity or notional at entry), each >= -1.
    """
    r = np.ascontiguousarray(trade_returns, dtype=np.float64)
    if r.ndim != 1 or r.size < 2:
        raise ValueError("a Monte Carlo fan needs at least 2 trade returns")
    if not np.isfinite(r).all() or (r < -1.0).any():
        raise ValueError("trade returns must be finite and >= -1 (compounding returns, not absolute PnL)")
    n = r.size
    rng = np.random.default_rng(seed)
    paths = np.empty((n_sims, n + 1))
    paths[:, 0] = 1.0
    for i in range(n_sims):
        paths[i, 1:] = np.cumprod(1.0 + r[rng.integers(0, n, n)])
    qs = [float(q) for q in quantiles]
    values = np.quantile(paths, qs, axis=0)
    observed = np.concatenate([[1.0], np.cumprod(1.0 + r)])
    return MonteCarloFan(method="trade bootstrap", n_sims=n_sims, seed=seed, x=list(range(n + 1)),
                         x_label="trade #", quantiles={q: v.tolist() for q, v in zip(qs, values, strict=True)},
                         observed=observed.tolist())
