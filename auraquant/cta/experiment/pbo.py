"""Probability of Backtest Overfitting via Combinatorially Symmetric Cross-Validation (CSCV; Bailey,
Borwein, Lopez de Prado & Zhu, "The Probability of Backtest Overfitting", 2015).

Input: a T x N matrix of per-period returns of N trials (strategy configurations) over the same T periods.
The rows are cut into S contiguous, equal blocks (the first T mod S rows are dropped so the blocks align
with the most recent data). For each of the C(S, S/2) ways to pick S/2 blocks as in-sample (IS), the rest
being out-of-sample (OOS):
- n* = the trial with the best IS metric;
- w  = (OOS rank of n* among the N trials, 1 = worst, ties averaged) / (N + 1);
- lambda = ln(w / (1 - w)).
PBO = the share of combinations with lambda <= 0, i.e. where the IS winner is at or below the OOS median.
The metric is the per-period Sharpe ratio (mean / std, ddof=1); a trial with zero variance on a part
scores 0 there.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np

from auraquant.cta.backtest.sharpe import sharpe_ratio


@dataclass(frozen=True)
class PBOResult:
    pbo: float
    logits: np.ndarray          # lambda per combination
    is_best: np.ndarray         # IS Sharpe of n* per combination
    oos_of_is_best: np.ndarray  # OOS Sharpe of n* per combination
    n_splits: int
    n_trials: int

    @property
    def n_combinations(self) -> int:
        return int(self.logits.size)

    @property
    def prob_oos_loss(self) -> float:
        """Share of combinations where the IS winner has a negative OOS Sharpe."""
        return float(np.mean(self.oos_of_is_best < 0))

    @property
    def degradation_slope(self) -> float:
        """Slope of the OOS Sharpe of n* regressed on its IS Sharpe (the paper's performance degradation)."""
        if np.ptp(self.is_best) == 0:
            return float("nan")
        return float(np.polyfit(self.is_best, self.oos_of_is_best, 1)[0])


def _sharpe_from_sums(s: np.ndarray, ss: np.ndarray, n: int) -> np.ndarray:
    mean = s / n
    var = np.maximum(ss - n * mean**2, 0.0) / (n - 1)
    sr = sharpe_ratio(mean, np.sqrt(var), n)
    # Ranks need a number for every trial: an undefined (zero-variance) Sharpe scores 0 here.
    return np.where(np.isnan(sr), 0.0, sr)


def pbo_cscv(returns: np.ndarray, n_splits: int = 16) -> PBOResult:
    """PBO of the N columns of `returns` (T x N); see the module docstring. `n_splits` must be even."""
    r = np.asarray(returns, dtype=float)
    if r.ndim != 2 or r.shape[1] < 2:
        raise ValueError("returns must be a T x N matrix with N >= 2 trials")
    if n_splits < 2 or n_splits % 2:
        raise ValueError(f"n_splits must be an even number >= 2, got {n_splits}")
    if not np.isfinite(r).all():
        raise ValueError("returns contain NaN or inf")
    t, n = r.shape
    block = t // n_splits
    if block < 2:
        raise ValueError(f"{t} rows are too few for {n_splits} blocks of at least 2 rows")
    r = r[t - block * n_splits:].reshape(n_splits, block, n)
    sums, sqs = r.sum(axis=1), (r**2).sum(axis=1)  # S x N
    combos = np.array(list(itertools.combinations(range(n_splits), n_splits // 2)))
    mask = np.zeros((len(combos), n_splits))
    np.put_along_axis(mask, combos, 1.0, axis=1)
    half = block * n_splits // 2
    is_sr = _sharpe_from_sums(mask @ sums, mask @ sqs, half)
    oos_sr = _sharpe_from_sums((1 - mask) @ sums, (1 - mask) @ sqs, half)
    best = np.argmax(is_sr, axis=1)
    rows = np.arange(len(combos))
    # Average rank of n* among the N OOS values (ties averaged, as scipy's rankdata 'average'): the count of
    # smaller values plus the mean position within its tie group; exact in float, and O(N) per combination.
    v = oos_sr[rows, best][:, None]
    ranks = (oos_sr < v).sum(axis=1) + ((oos_sr == v).sum(axis=1) + 1) / 2.0
    w = ranks / (n + 1)
    logits = np.log(w / (1 - w))
    return PBOResult(pbo=float(np.mean(logits <= 0)), logits=logits, is_best=is_sr[rows, best],
                     oos_of_is_best=oos_sr[rows, best], n_splits=n_splits, n_trials=n)


def n_combinations(n_splits: int) -> int:
    return math.comb(n_splits, n_splits // 2)
