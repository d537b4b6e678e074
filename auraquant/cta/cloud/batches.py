"""Splitting a sweep into independent batches and merging them back into exactly the one-call table.

Every metric of a parameter set is computed independently of the others (engine semantics 9), except the
deflated Sharpe ratio, which depends on the whole set: n_trials = len(param_sets) and the variance of the
sets' daily Sharpe ratios. `merge_batches` therefore concatenates the batch tables in input order and
recomputes `psr`/`dsr` over the full table with the engine's own `add_trial_statistics`, so a sweep run as
batches (threads, a Dask cluster, another machine) equals `run_sweep(bars, spec, all_sets)` bit for bit.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from auraquant.cta.backtest.engine import run_sweep
from auraquant.cta.backtest.metrics import add_trial_statistics
from auraquant.cta.strategy.spec import Spec


def split(param_sets: Sequence[Mapping[str, Any]], n_batches: int) -> list[list[dict[str, Any]]]:
    """Contiguous, order-preserving batches (at most `n_batches`, none empty)."""
    n = len(param_sets)
    k = max(1, min(n_batches, n))
    bounds = np.linspace(0, n, k + 1).round().astype(int)
    return [[dict(p) for p in param_sets[bounds[i]:bounds[i + 1]]] for i in range(k) if bounds[i + 1] > bounds[i]]


def run_batch(bars: pd.DataFrame, spec_json: str, param_sets: list[dict[str, Any]],
              threads: int | None = None, modules: dict[tuple[str, str], bytes] | None = None) -> pd.DataFrame:
    """One batch's sweep table (its `dsr` column is batch-local; `merge_batches` replaces it).

    `modules` (a bundle's workspace modules, by `(kind, name)`) are laid out in a scratch module root for the
    sandbox worker, wherever this batch runs (here, a Dask worker, a container)."""
    spec = Spec.model_validate_json(spec_json)
    if not modules:
        return run_sweep(bars, spec, param_sets, threads=threads)
    with tempfile.TemporaryDirectory(prefix="aq-modules-") as tmp:
        extra = write_module_root(modules, Path(tmp))
        return run_sweep(bars, spec, param_sets, threads=threads, extra_dir=extra)


def write_module_root(modules: dict[tuple[str, str], bytes], root: Path) -> Path:
    """`<root>/cta_runtime/<kind>/<name>.py` for each module source; returns the `cta_runtime` directory."""
    extra = root / "cta_runtime"
    for (kind, name), src in modules.items():
        (extra / kind).mkdir(parents=True, exist_ok=True)
        (extra / kind / f"{name}.py").write_bytes(src)
    return extra


def merge_batches(tables: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """Concatenate batch tables (in input order) and recompute `dsr` over all of them."""
    return add_trial_statistics(pd.concat(list(tables), ignore_index=True))
