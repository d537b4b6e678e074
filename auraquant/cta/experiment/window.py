"""One walk-forward window, end to end: search on train, re-rank the top-K on validation, evaluate the
chosen parameters on target.

Selection rule: trials are ranked by (feasible, train score) descending, ties by (batch, slot); the first
`top_k` *distinct* parameter sets go to validation, where the highest validation score wins (ties: the
better train rank). Without a validation segment the best train trial wins.

Each segment is backtested on its own bars only (indicators warm up inside the segment and the
position starts flat), so no segment's result depends on bars outside it.

A `WindowTask` holds only the bars of its own segments, served by the run's `SealedBars`, so a worker
(thread or Dask process) never holds a bar its window may not see. `run_window` is a top-level function
so Dask can pickle it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from auraquant.cta.backtest.engine import BacktestResult, run_backtest
from auraquant.cta.experiment.config import SearchConfig, Window
from auraquant.cta.experiment.models import WindowResult
from auraquant.cta.experiment.search import Timings, evaluate, search_window
from auraquant.cta.models.hooks import needs_fit
from auraquant.cta.strategy.spec import Spec, apply_params


@dataclass
class WindowTask:
    run_id: str
    spec: Spec
    search: SearchConfig
    seed: int
    window: Window
    train: pd.DataFrame
    validation: pd.DataFrame | None
    target: pd.DataFrame
    storage_url: str
    engine_threads: int | None = None
    extra_dir: str | None = None  # the workspace's own (agent-written) modules

    @property
    def study_name(self) -> str:
        return f"{self.run_id}-w{self.window.index:03d}"


@dataclass
class WindowOutcome:
    result: WindowResult
    trials: pd.DataFrame
    equity: pd.DataFrame
    trades: pd.DataFrame
    timings: Timings
    # extra window artifacts (name -> bytes), written under windows/wKKK_<name> before the window's JSON
    files: dict[str, bytes] = field(default_factory=dict)


def _span(frame: pd.DataFrame) -> tuple[Any, Any]:
    return (frame["time"].iloc[0].to_pydatetime(), frame["time"].iloc[-1].to_pydatetime())


def _plain(v: Any) -> int | float:
    return int(v) if isinstance(v, int) or (hasattr(v, "dtype") and v.dtype.kind in "iu") else float(v)


def select(trials: pd.DataFrame, param_names: list[str], validation: pd.DataFrame | None, spec: Spec,
           cfg: SearchConfig, engine_threads: int | None = None,
           extra_dir: str | None = None) -> tuple[pd.DataFrame, int, float | None]:
    """(trials with a `train_rank` and `validation_score` column, row index of the chosen trial, its
    validation score). See the module docstring for the rule."""
    ranked = trials.sort_values(["feasible", "score", "batch", "slot"], ascending=[False, False, True, True],
                                kind="stable")
    trials = trials.assign(train_rank=0, validation_score=float("nan"))
    trials.loc[ranked.index, "train_rank"] = range(1, len(ranked) + 1)
    top = ranked.drop_duplicates(subset=param_names, keep="first").head(cfg.top_k)
    if validation is None:
        return trials, int(top.index[0]), None
    params = [{p: _plain(row[p]) for p in param_names} for _, row in top.iterrows()]
    val = evaluate(validation, spec, params, cfg, engine_threads, extra_dir)
    trials.loc[top.index, "validation_score"] = val["score"].to_numpy()
    order = sorted(range(len(top)), key=lambda i: (-val["score"].iloc[i], i))
    best = int(top.index[order[0]])
    return trials, best, float(val["score"].iloc[order[0]])


def run_target(target: pd.DataFrame, spec: Spec, chosen: dict[str, int | float], window: int,
               extra_dir: str | None = None) -> tuple[BacktestResult, pd.DataFrame, pd.DataFrame]:
    """(backtest result, equity, trades) of the chosen parameters on a window's target segment: equity and
    trades carry the window index, trades also their compounding `equity_return` (net PnL over the NAV
    at the close before the entry fill). The one definition of a window's out-of-sample artifacts."""
    res = run_backtest(target, apply_params(spec, chosen), record=True, extra_dir=extra_dir)
    assert res.equity is not None and res.trades is not None
    equity = res.equity.assign(window=window)
    nav = equity["equity"].to_numpy(dtype=float)
    entry = res.trades["entry_bar"].to_numpy()
    nav_before = np.where(entry > 0, nav[np.maximum(entry - 1, 0)], spec.engine.initial_capital)
    trades = res.trades.assign(window=window, equity_return=res.trades["pnl"].to_numpy() / nav_before)
    return res, equity, trades


def run_window(task: WindowTask) -> WindowOutcome:
    """Search, select and evaluate one window (see the module docstring). A learned baseline is first
    fitted on the window's train segment (`auraquant.cta.models.window`)."""
    if needs_fit(task.spec):
        from auraquant.cta.models.window import run_model_window

        return run_model_window(task, run_window, evaluate)
    spec, cfg = task.spec, task.search
    found = search_window(task.train, spec, cfg, storage_url=task.storage_url, study_name=task.study_name,
                          seed=task.seed, window=task.window.index, engine_threads=task.engine_threads,
                          extra_dir=task.extra_dir)
    tm = found.timings
    names = list(spec.search_space)
    t0 = time.perf_counter()
    trials, best, val_score = select(found.trials, names, task.validation, spec, cfg, task.engine_threads,
                                     task.extra_dir)
    chosen = {p: _plain(trials.loc[best, p]) for p in names}
    res, equity, trades = run_target(task.target, spec, chosen, task.window.index, task.extra_dir)
    tm.engine_s += time.perf_counter() - t0
    trials["selected"] = trials.index == best
    trials.insert(0, "window", task.window.index)
    result = WindowResult(
        window=task.window, train_span=_span(task.train),
        validation_span=None if task.validation is None else _span(task.validation),
        target_span=_span(task.target), params=chosen, train_score=float(trials.loc[best, "score"]),
        validation_score=val_score, train_rank=int(trials.loc[best, "train_rank"]), n_trials=len(trials),
        target_report=res.report.model_dump(mode="json"))
    return WindowOutcome(result=result, trials=trials, equity=equity, trades=trades, timings=tm)
