"""Splitting a sweep into independent batches and merging them back into exactly the one-call table.

Every metric of a parameter set is computed independently of the others (engine semantics 9), except the
deflated Sharpe ratio, which depends on the whole set: n_trials = len(param_sets) and the variance of the
sets' daily Sharpe ratios. `merge_batches` therefore concatenates the batch tables in input order and
recomputes `dsr` over the full table with the engine's own `deflated_sharpe_ratio`, so a sweep run as
batches (threads, a Dask cluster, another machine) equals `run_sweep(bars, spec, all_sets)` bit for bit.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from auraquant.cta.backtest.engine import run_sweep
from auraquant.cta.backtest.metrics import deflated_sharpe_ratio
from auraquant.cta.strategy.spec import Spec


def split(param_sets: Sequence[Mapping[str, Any]], n_batches: int) -> list[list[dict[str, Any]]]:
    """Contiguous, order-preserving batches (at most `n_batches`, none empty)."""
    n = len(param_sets)
    k = max(1, min(n_batches, n))
    bounds = np.linspace(0, n, k + 1).round().astype(int)
    return [[dict(p) for p in param_sets[bounds[i]:bounds[i + 1]]] for i in range(k) if bounds[i + 1] > bounds[i]]


def run_batch(bars: pd.DataFrame, spec_json: str, param_sets: list[dict[str, Any]],
              threads: int | None = None) -> pd.DataFrame:
    """One batch's sweep table (its `dsr` column is batch-local; `merge_batches` replaces it)."""
    return run_sweep(bars, Spec.model_validate_json(spec_json), param_sets, threads=threads)


def _daily_sharpe(mean: float, std: float) -> float:
    # The same expression as auraquant.cta.backtest.metrics.daily_sharpe, on the table's columns.
    return float(mean / std) if std > 0 else math.nan


def merge_batches(tables: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """Concatenate batch tables (in input order) and recompute `dsr` over all of them."""
    table = pd.concat(list(tables), ignore_index=True)
    srs = np.array([_daily_sharpe(m, s) for m, s in zip(table["daily_mean"], table["daily_std"], strict=True)])
    finite = srs[np.isfinite(srs)]
    var = float(np.var(finite, ddof=1)) if finite.size > 1 else 0.0
    n = len(table)
    table["dsr"] = [deflated_sharpe_ratio(s, int(nd), sk, ku, n, var)
                    for s, nd, sk, ku in zip(srs, table["n_days"], table["skew"], table["kurtosis"], strict=True)]
    return table
