"""The Deflated Sharpe Ratio of a walk-forward selection: SR0 and DSR from the *true* number of trials
and the variance of their Sharpe ratios (Bailey & Lopez de Prado, "The Deflated Sharpe Ratio", 2014).

The formulas have one owner, `auraquant.cta.backtest.metrics` (`probabilistic_sharpe_ratio`,
`expected_max_sharpe`, `deflated_sharpe_ratio`); this module only gathers their inputs from an
experiment and converts units. Conventions (the paper's and metrics.py's):
- every Sharpe ratio is **per period** (not annualized), the period of the returns it describes;
  `per_period_sharpe` / `per_period_variance` convert annualized values;
- `kurtosis` is the raw (Pearson) fourth standardized moment, 3 for a normal distribution;
- `n_obs` is the number of return observations the Sharpe ratio was estimated from.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

from auraquant.cta.backtest import metrics
from auraquant.cta.backtest.sharpe import sharpe_of_returns


def per_period_sharpe(annual_sharpe: float, periods_per_year: float) -> float:
    """An annualized Sharpe ratio (mean/std x sqrt(periods)) converted back to one period."""
    return annual_sharpe / math.sqrt(periods_per_year)


def per_period_variance(annual_sharpe_variance: float, periods_per_year: float) -> float:
    """The variance of annualized Sharpe ratios converted to the variance of per-period ones."""
    return annual_sharpe_variance / periods_per_year


@dataclass(frozen=True)
class DeflatedSharpe:
    """The inputs and result of a DSR computation (all Sharpe values per period; NaN when undefined)."""

    sharpe: float
    sr0: float
    dsr: float
    psr0: float  # PSR against a zero benchmark, for contrast
    n_trials: int
    sharpe_variance: float
    n_obs: int
    skew: float
    kurtosis: float


def deflate(sharpe: float, n_trials: int, sharpe_variance: float, n_obs: int, skew: float = 0.0,
            kurtosis: float = 3.0) -> DeflatedSharpe:
    """SR0 and DSR = PSR(SR0) of a per-period `sharpe` selected after `n_trials` trials whose per-period
    Sharpe ratios have variance `sharpe_variance`."""
    if n_trials < 1:
        raise ValueError(f"n_trials must be >= 1, got {n_trials}")
    if sharpe_variance < 0:
        raise ValueError(f"sharpe_variance must be >= 0, got {sharpe_variance}")
    return DeflatedSharpe(
        sharpe=float(sharpe), sr0=metrics.expected_max_sharpe(n_trials, sharpe_variance),
        dsr=metrics.deflated_sharpe_ratio(sharpe, n_obs, skew, kurtosis, n_trials, sharpe_variance),
        psr0=metrics.probabilistic_sharpe_ratio(sharpe, n_obs, skew, kurtosis),
        n_trials=int(n_trials), sharpe_variance=float(sharpe_variance), n_obs=int(n_obs),
        skew=float(skew), kurtosis=float(kurtosis))


def deflate_returns(returns: np.ndarray, trial_sharpes: Sequence[float],
                    n_trials: int | None = None) -> DeflatedSharpe:
    """DSR of a per-period return series given the per-period Sharpe ratios of the search's trials.

    `n_trials` defaults to the number of finite `trial_sharpes`; pass the true count when only a sample
    is at hand. The trial variance uses ddof=1; skew and kurtosis are the population moments of the
    returns (as metrics.py computes them for reports).
    """
    r = np.asarray(returns, dtype=float)
    if r.ndim != 1 or r.size < 3:
        raise ValueError("returns must be a 1-d series with at least 3 observations")
    sr = sharpe_of_returns(r)
    if not math.isfinite(sr):
        raise ValueError("returns have zero variance; Sharpe ratio undefined")
    trials = np.asarray(trial_sharpes, dtype=float)
    trials = trials[np.isfinite(trials)]
    if trials.size < 2:
        raise ValueError("need at least 2 finite trial Sharpe ratios for their variance")
    return deflate(sr, n_trials or int(trials.size), float(trials.var(ddof=1)), int(r.size),
                   float(stats.skew(r)), float(stats.kurtosis(r, fisher=False)))
