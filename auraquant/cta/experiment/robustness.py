"""Run-level robustness evidence, computed when a walk-forward run finishes (stored in
`RunResult.robustness`, matrices under `<artifacts>/robustness/`):

- `pbo`: per window, the daily returns on the *train* segment of every distinct trial (distinct parameter
  sets: a repeated set is the same strategy) form the T x N trial matrix — or, when a preselection
  `pbo_trials` = k is configured, of the top k by train score only, and the result says so
  (`pbo_spa_selection`, `pbo_spa_trials_per_window`); PBO via CSCV (`pbo.pbo_cscv`) with `n_splits` blocks
  (fewer, still even, when the segment has too few days). `pbo` is the mean over windows,
  `pbo_windows` each window's value.
- `spa`: Hansen's SPA / White's Reality Check (`spa.snooping_test`, arch) of the same matrices against
  staying flat: per window, and the median consistent p-value. Preselecting the best trials by train
  score before the test would hide the trials that make a winner unremarkable, so the default is all.
- `mc_block` / `mc_trades`: Monte Carlo of the stitched OOS curve (stationary block bootstrap of its
  daily returns) and of the OOS trades (bootstrap of their compounding returns), 95% intervals.
Only the sealed bar access is used, so nothing here can read the holdout. Seeds come from the run.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from auraquant.cta.backtest.engine import sweep_equity
from auraquant.cta.experiment.montecarlo import block_bootstrap_mc, trade_order_mc
from auraquant.cta.experiment.sealed import SealedBars
from auraquant.cta.experiment.stitch import daily_return_matrix, daily_returns
from auraquant.cta.strategy.spec import Spec


@dataclass(frozen=True)
class RobustnessConfig:
    pbo_trials: int | None = None  # None: every distinct trial; k: a stated preselection (top k by train score)
    n_splits: int = 16
    spa_reps: int = 1000
    mc_sims: int = 1000
    workers: int | None = None  # windows analysed side by side (None: CPU count); results do not depend on it


def _plain(v: Any) -> int | float:
    return int(v) if np.issubdtype(type(v), np.integer) else float(v)


def trial_return_matrix(train: pd.DataFrame, spec: Spec, trials: pd.DataFrame, n: int | None,
                        extra_dir: str | None = None, threads: int | None = None) -> pd.DataFrame:
    """Daily returns (rows: UTC days) of the distinct trials of a window on its train bars: all of them when
    `n` is None, else the top `n` by train score."""
    names = list(spec.search_space)
    ranked = trials.sort_values(["feasible", "score", "batch", "slot"], ascending=[False, False, True, True],
                                kind="stable").drop_duplicates(subset=names)
    if n is not None:
        ranked = ranked.head(n)
    params = [{p: _plain(v) for p, v in zip(names, row, strict=True)}
              for row in ranked[names].itertuples(index=False, name=None)]
    navs = sweep_equity(train, spec, params, threads=threads, extra_dir=extra_dir)
    mat = daily_return_matrix(train["time"], navs, spec.engine.initial_capital)
    mat.columns = [f"b{int(b)}s{int(s)}" for b, s in zip(ranked["batch"], ranked["slot"], strict=True)]
    return mat


def _splits(n_days: int, wanted: int) -> int | None:
    s = min(wanted, (n_days // 4) // 2 * 2)
    return s if s >= 4 else None


def _finite(x: float) -> float | None:
    return float(x) if np.isfinite(x) else None


def run_robustness(spec: Spec, seed: int, bars: SealedBars, windows: list[tuple[int, int, int, pd.DataFrame]],
                   stitched: pd.DataFrame, trades: pd.DataFrame, basis: int, out_dir: Path,
                   cfg: RobustnessConfig = RobustnessConfig(), extra_dir: str | None = None,
                   window_specs: dict[int, Spec] | None = None) -> dict[str, Any]:
    """The robustness entries of a run (see the module docstring). `windows` holds (index, train start,
    train stop, trial table) per window; `window_specs` replaces `spec` for the windows it names (a learned
    baseline's spec with that window's fitted model)."""
    from auraquant.cta.experiment.pbo import pbo_cscv  # arch/scipy: imported only when needed
    from auraquant.cta.experiment.spa import snooping_test

    out: dict[str, Any] = {}
    pbos: dict[str, float] = {}
    spas: dict[str, dict[str, float]] = {}
    used: dict[str, int] = {}
    mdir = out_dir / "robustness"
    mdir.mkdir(parents=True, exist_ok=True)

    def one(w: tuple[int, int, int, pd.DataFrame]) -> None:
        k, start, stop, trials = w
        key = f"w{k:03d}"
        mat = trial_return_matrix(bars.segment(start, stop), (window_specs or {}).get(k, spec), trials,
                                  cfg.pbo_trials, extra_dir, threads=1)
        mat.reset_index(names="day").to_parquet(mdir / f"{key}_trial_returns.parquet", index=False)
        r = mat.to_numpy(dtype=float)
        used[key] = int(r.shape[1])
        s = _splits(r.shape[0], cfg.n_splits)
        if r.shape[1] >= 2 and s is not None:
            pbos[key] = pbo_cscv(r, n_splits=s).pbo
        if r.shape[0] >= 10:
            t = snooping_test(r, reps=cfg.spa_reps, seed=seed + k)
            spas[key] = {"consistent": t.spa_consistent, "lower": t.spa_lower, "upper": t.spa_upper,
                         "reality_check": t.reality_check}

    # Windows are independent (own matrix, own SPA seed), so they run side by side; the kernels and most
    # numpy work release the GIL. Entries are re-ordered by window below: the result does not depend on it.
    workers = max(1, min(cfg.workers or os.cpu_count() or 1, len(windows)))
    if workers == 1:
        for w in windows:
            one(w)
    else:
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="robustness") as pool:
            list(pool.map(one, windows))
    order = [f"w{k:03d}" for k, *_ in windows]
    pbos = {k: pbos[k] for k in order if k in pbos}
    spas = {k: spas[k] for k in order if k in spas}
    used = {k: used[k] for k in order}
    if pbos:
        out["pbo"] = float(np.mean(list(pbos.values())))
        out["pbo_windows"] = pbos
    out["pbo_spa_selection"] = "all" if cfg.pbo_trials is None else f"top {cfg.pbo_trials} by train score"
    out["pbo_spa_trials_per_window"] = used
    if spas:
        out["spa_consistent_median"] = float(np.median([v["consistent"] for v in spas.values()]))
        out["spa_windows"] = spas
    d = daily_returns(stitched, spec.engine.initial_capital).to_numpy()
    if d.size >= 5 and np.std(d) > 0:
        out["mc_block"] = block_bootstrap_mc(d, n_sims=cfg.mc_sims, seed=seed, periods_per_year=basis).summary()
    tr = trades["equity_return"].to_numpy(dtype=float) if "equity_return" in trades else np.array([])
    if tr.size >= 5:
        years = max(d.size / basis, 1e-9)
        out["mc_trades"] = trade_order_mc(tr, n_sims=cfg.mc_sims, seed=seed, mode="bootstrap",
                                          trades_per_year=tr.size / years).summary()
    out["settings"] = {"pbo_splits": cfg.n_splits, "spa_reps": cfg.spa_reps, "mc_sims": cfg.mc_sims, "seed": seed}
    return out
