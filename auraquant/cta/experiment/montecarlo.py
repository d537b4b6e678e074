"""Monte Carlo robustness of an equity curve, always on compounding returns (never absolute PnL).

Two resampling schemes, each giving distributions of final return, max drawdown and Sharpe:
- `trade_order_mc`: resamples the per-trade returns (trade PnL / equity at entry). `mode="shuffle"`
  permutes them (final return and Sharpe are then invariant, only the path and its drawdown change);
  `mode="bootstrap"` draws with replacement (i.i.d. bootstrap of trades).
- `block_bootstrap_mc`: Politis & Romano (1994) stationary block bootstrap of per-period returns
  (e.g. daily returns of the equity curve): block starts uniform, block lengths geometric with mean
  `mean_block` (default: arch's `optimal_block_length`), wrapping around the end. Keeps
  autocorrelation and volatility clustering that an i.i.d. resample destroys.

Each simulated path is equity_t = prod_{s<=t} (1 + r_s) from 1.0. Every input return must be >= -1 (a
loss of the whole equity at most), so simulated equity is >= 0 and drawdown is >= -100% by construction
(resampling absolute PnL instead, as jesse#607 did, produces drawdowns of -271%). Max drawdown is
min_t(equity_t / max_{s<=t} equity_s - 1) with the initial 1.0 included, reported as a number in
[-1, 0]. Sharpe is mean / std (ddof=1) x sqrt(periods_per_year), 0 when std is 0.
Deterministic: the same inputs and seed give bit-identical arrays.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from numba import njit

from auraquant.cta.backtest.sharpe import sharpe_value

_sharpe = njit(nogil=True, inline="always")(sharpe_value)  # the one Sharpe definition, compiled


@dataclass(frozen=True)
class MonteCarloResult:
    method: str
    n_sims: int
    seed: int
    final_return: np.ndarray
    max_drawdown: np.ndarray
    sharpe: np.ndarray

    def summary(self, ci: float = 0.95) -> dict[str, dict[str, float]]:
        """Mean, median and the central `ci` percentile interval of each statistic."""
        lo, hi = (1 - ci) / 2 * 100, (1 + ci) / 2 * 100
        out = {}
        for name in ("final_return", "max_drawdown", "sharpe"):
            v = getattr(self, name)
            out[name] = {"mean": float(v.mean()), "median": float(np.median(v)),
                         "ci_low": float(np.percentile(v, lo)), "ci_high": float(np.percentile(v, hi))}
        return out


@njit(cache=True, nogil=True)
def _path_stats(r: np.ndarray, idx: np.ndarray, ann: float) -> tuple[float, float, float]:
    eq, peak, mdd = 1.0, 1.0, 0.0
    n = idx.shape[0]
    s, ss = 0.0, 0.0
    for k in range(n):
        x = r[idx[k]]
        eq *= 1.0 + x
        if eq > peak:
            peak = eq
        dd = eq / peak - 1.0
        if dd < mdd:
            mdd = dd
        s += x
        ss += x * x
    mean = s / n
    var = (ss - n * mean * mean) / (n - 1) if n > 1 else 0.0
    # The one Sharpe definition (`backtest.sharpe`); a path with no variance (rounding noise of the sums
    # below 1e-300 counts as none) scores 0, so the distribution's statistics stay defined.
    sharpe = _sharpe(mean, np.sqrt(var) if var > 1e-300 else 0.0, n, False, ann)
    if sharpe != sharpe:
        sharpe = 0.0
    return eq - 1.0, mdd, sharpe


@njit(cache=True, nogil=True)
def _stationary_indices(n: int, starts: np.ndarray, jumps: np.ndarray, p: float) -> np.ndarray:
    idx = np.empty(n, dtype=np.int64)
    idx[0] = starts[0]
    for t in range(1, n):
        idx[t] = starts[t] if jumps[t] < p else (idx[t - 1] + 1) % n
    return idx


def _check_returns(returns: np.ndarray) -> np.ndarray:
    r = np.ascontiguousarray(returns, dtype=np.float64)
    if r.ndim != 1 or r.size < 2:
        raise ValueError("need a 1-d series of at least 2 returns")
    if not np.isfinite(r).all():
        raise ValueError("returns contain NaN or inf")
    if (r < -1.0).any():
        raise ValueError("a compounding return below -100% is impossible; pass returns (PnL / equity), "
                         "not absolute PnL")
    return r


def _run(method: str, r: np.ndarray, n_sims: int, seed: int, ann: float, draw) -> MonteCarloResult:
    rng = np.random.default_rng(seed)
    out = np.empty((3, n_sims))
    for i in range(n_sims):
        out[:, i] = _path_stats(r, draw(rng), ann)
    return MonteCarloResult(method=method, n_sims=n_sims, seed=seed, final_return=out[0],
                            max_drawdown=out[1], sharpe=out[2])


def trade_order_mc(trade_returns: np.ndarray, *, n_sims: int = 1000, seed: int = 0,
                   mode: Literal["shuffle", "bootstrap"] = "bootstrap",
                   trades_per_year: float | None = None) -> MonteCarloResult:
    """Resample per-trade compounding returns; Sharpe is per trade x sqrt(trades_per_year) if given."""
    r = _check_returns(trade_returns)
    n = r.size
    ann = float(np.sqrt(trades_per_year)) if trades_per_year else 1.0
    if mode == "shuffle":
        return _run("trade_shuffle", r, n_sims, seed, ann, lambda rng: rng.permutation(n))
    if mode == "bootstrap":
        return _run("trade_bootstrap", r, n_sims, seed, ann, lambda rng: rng.integers(0, n, n))
    raise ValueError(f"mode must be 'shuffle' or 'bootstrap', got {mode!r}")


def default_block_length(returns: np.ndarray) -> float:
    """arch's optimal mean block length for the stationary bootstrap (Politis & White 2004), at least 1."""
    from arch.bootstrap import optimal_block_length

    return max(1.0, float(optimal_block_length(np.asarray(returns, dtype=float))["stationary"].iloc[0]))


def block_bootstrap_mc(returns: np.ndarray, *, n_sims: int = 1000, seed: int = 0,
                       mean_block: float | None = None, periods_per_year: float = 365.0) -> MonteCarloResult:
    """Stationary block bootstrap of per-period compounding returns (see the module docstring)."""
    r = _check_returns(returns)
    n = r.size
    b = default_block_length(r) if mean_block is None else float(mean_block)
    if b < 1:
        raise ValueError(f"mean_block must be >= 1, got {b}")
    p = 1.0 / b
    ann = float(np.sqrt(periods_per_year))
    return _run("stationary_block_bootstrap", r, n_sims, seed, ann,
                lambda rng: _stationary_indices(n, rng.integers(0, n, n), rng.random(n), p))
