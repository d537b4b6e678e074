"""Data-snooping tests over a set of trials: Hansen's Superior Predictive Ability test and White's Reality
Check, both computed by `arch.bootstrap.SPA` (one implementation, not ours).

H0: no trial beats the benchmark (by default: staying flat, i.e. zero returns). `arch` works on losses,
so the loss of a trial in a period is its negated return. Returned p-values:
- `spa_*`: studentized statistic (Hansen 2005); `lower` / `consistent` / `upper` recentering, `consistent`
  being Hansen's recommended p-value;
- `reality_check`: White's (2000) Reality Check, the non-studentized statistic without recentering of
  poor models (arch's `upper` p-value with `studentize=False`).
Same inputs and seed -> the same p-values as calling `arch` directly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from arch.bootstrap import SPA

Bootstrap = Literal["stationary", "circular", "moving block"]


@dataclass(frozen=True)
class SnoopingTest:
    spa_lower: float
    spa_consistent: float
    spa_upper: float
    reality_check: float
    n_trials: int
    n_obs: int
    block_size: int
    reps: int


def _losses(strategy_returns: np.ndarray, benchmark_returns: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    r = np.asarray(strategy_returns, dtype=float)
    if r.ndim == 1:
        r = r[:, None]
    if r.ndim != 2 or r.shape[0] < 10:
        raise ValueError("strategy_returns must be T x K with T >= 10")
    b = np.zeros(r.shape[0]) if benchmark_returns is None else np.asarray(benchmark_returns, dtype=float)
    if b.shape != (r.shape[0],):
        raise ValueError(f"benchmark_returns must have shape ({r.shape[0]},), got {b.shape}")
    if not (np.isfinite(r).all() and np.isfinite(b).all()):
        raise ValueError("returns contain NaN or inf")
    return -b, -r


def snooping_test(strategy_returns: np.ndarray, benchmark_returns: np.ndarray | None = None, *,
                  block_size: int | None = None, reps: int = 1000, bootstrap: Bootstrap = "stationary",
                  seed: int = 0) -> SnoopingTest:
    """SPA and Reality Check p-values of the K columns of `strategy_returns` (T x K) against the benchmark.

    `block_size` defaults to arch's default (sqrt(T)); both tests use the same bootstrap and seed.
    """
    bench_loss, model_loss = _losses(strategy_returns, benchmark_returns)
    spa = SPA(bench_loss, model_loss, block_size=block_size, reps=reps, bootstrap=bootstrap,
              studentize=True, seed=seed)
    spa.compute()
    rc = SPA(bench_loss, model_loss, block_size=block_size, reps=reps, bootstrap=bootstrap,
             studentize=False, seed=seed)
    rc.compute()
    p = spa.pvalues
    return SnoopingTest(spa_lower=float(p["lower"]), spa_consistent=float(p["consistent"]),
                        spa_upper=float(p["upper"]), reality_check=float(rc.pvalues["upper"]),
                        n_trials=int(model_loss.shape[1]), n_obs=int(model_loss.shape[0]),
                        block_size=int(spa.block_size), reps=reps)
