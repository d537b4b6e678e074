"""Walk-forward benchmark (issue 4, must-show 1): 5 years of Binance BTC/USDT 1h bars, 10 rolling windows x
100 Optuna TPE trials of an EMA-cross + ATR-trailing (chandelier) spec, top-5 re-ranked on validation,
chosen params evaluated on target, target equity stitched. Budget: <= 60 s wall on 2 cores.

Prints the wall time, trials per second and the share of time spent inside Optuna (ask/tell/storage)
versus the engine (sweeps, validation, target backtests); those two shares are summed over workers.

Reference point, timed in the same run: one window searched the plain Optuna way (`study.optimize`
with one `run_backtest` per trial, in-memory storage) versus our batched ask/tell + `run_sweep` with
the on-disk journal storage; the ratio is printed.

Layout: the last 5 years of data (43,800 bars); windows of train 8,760 (1 year), validation 2,160
(90 days), target 3,240 (135 days) bars, step = target, embargo 24 bars. The bars after the last
target are the sealed holdout.

Run: .venv/bin/python benchmarks/walkforward.py [--executor threads|dask-local:2] [--trials 100]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import optuna
import pandas as pd

from auraquant.cta.backtest.engine import run_backtest, run_sweep
from auraquant.cta.experiment.config import SearchConfig, WalkForwardConfig, plan_windows
from auraquant.cta.experiment.runner import execute, run_from_frame
from auraquant.cta.experiment.search import search_window
from auraquant.cta.strategy.spec import Spec, apply_params

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "binance_BTCUSDT_1h_2017-2026.parquet"
YEARS_BARS = 5 * 8760
WF = WalkForwardConfig(train_bars=8760, validation_bars=2160, target_bars=3240, embargo_bars=24, n_windows=10)


def spec() -> Spec:
    return Spec.model_validate({
        "name": "ema_cross_atr_trail",
        "baseline": {"name": "ema_cross", "params": {"fast": 12, "slow": 26}},
        "execution": [{"name": "chandelier", "params": {"period": 22, "mult": 3.0}}],
        "search_space": {"baseline.fast": {"kind": "int", "low": 5, "high": 60},
                         "baseline.slow": {"kind": "int", "low": 30, "high": 300},
                         "execution.chandelier.period": {"kind": "int", "low": 10, "high": 50},
                         "execution.chandelier.mult": {"kind": "float", "low": 1.0, "high": 6.0}},
        "engine": {"commission_bps": 5, "slippage_bps": 2}})


def _warm(frame: pd.DataFrame, s: Spec) -> None:
    """Load the compiled kernels (numba cache) so the timing measures the run, not compilation."""
    run_sweep(frame.iloc[:2000], s, [{"baseline.fast": 10, "baseline.slow": 50}])
    run_backtest(frame.iloc[:2000], s, record=True)


def plain_optuna_window(train: pd.DataFrame, s: Spec, n_trials: int, seed: int) -> float:
    """One window the textbook way: study.optimize, one backtest per trial, in-memory storage."""
    def objective(trial: optuna.Trial) -> float:
        params = {"baseline.fast": trial.suggest_int("baseline.fast", 5, 60),
                  "baseline.slow": trial.suggest_int("baseline.slow", 30, 300),
                  "execution.chandelier.period": trial.suggest_int("execution.chandelier.period", 10, 50),
                  "execution.chandelier.mult": trial.suggest_float("execution.chandelier.mult", 1.0, 6.0)}
        v = run_backtest(train, apply_params(s, params), record=False).metrics["sharpe"]
        return v if v == v else -1e9

    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed,
                                                                                         multivariate=True))
    t0 = time.perf_counter()
    study.optimize(objective, n_trials=n_trials)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--executor", default="threads")
    ap.add_argument("--trials", type=int, default=100)
    ap.add_argument("--batch", type=int, default=25)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    if not DATA.is_file():
        raise SystemExit(f"shared data not found: {DATA}")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    frame = pd.read_parquet(DATA).iloc[-YEARS_BARS:].reset_index(drop=True)
    s = spec()
    windows = plan_windows(len(frame), WF)
    holdout = len(frame) - windows[-1].target.stop
    search = SearchConfig(n_trials=args.trials, batch_size=args.batch, top_k=5, n_startup_trials=10)
    run, bars = run_from_frame(frame, s, WF, search, seed=args.seed, holdout_bars=holdout)
    _warm(frame, s)
    print(f"data: {len(frame)} bars {frame.time.iloc[0]} .. {frame.time.iloc[-1]}; sealed holdout "
          f"{holdout} bars from {bars.holdout_start}")
    print(f"run {run.id}: {len(windows)} windows x {args.trials} trials, executor {args.executor}")

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        out = execute(run, bars, out_dir=Path(tmp) / "run", storage_url=f"journal:{tmp}/optuna.journal",
                      executor=args.executor)
        wall = time.perf_counter() - t0
    tm = out.timings
    n = out.result.total_trials
    busy = tm.optuna_s + tm.engine_s
    print(f"wall time: {wall:.1f} s (budget 60 s) -> {'OK' if wall <= 60 else 'OVER BUDGET'}")
    print(f"trials: {n} -> {n / wall:.1f} trials/s")
    print(f"time inside Optuna: {tm.optuna_s:.1f} s ({tm.optuna_s / busy:.0%}), inside the engine: "
          f"{tm.engine_s:.1f} s ({tm.engine_s / busy:.0%}) [summed over workers; rest = orchestration/IO]")
    oos = out.result.oos
    print(f"OOS: total return {oos.total_return:+.2%}, Sharpe {oos.sharpe}, max DD {oos.max_drawdown:.2%}, "
          f"trades {oos.trades}, DSR {oos.dsr} (N={oos.dsr_n_trials})")
    for w in out.result.windows:
        print(f"  w{w.window.index}: {w.params} train {w.train_score:.2f} val {w.validation_score:.2f} "
              f"target Sharpe {w.target_report['sharpe']}")

    w0 = windows[0]
    train = bars.segment(w0.train.start, w0.train.stop)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        search_window(train, s, search, storage_url=f"journal:{tmp}/one.journal", study_name="one",
                      seed=args.seed, window=0)
        ours = time.perf_counter() - t0
    plain = plain_optuna_window(train, s, args.trials, args.seed)
    print(f"one window, {args.trials} trials: batched ask/tell + run_sweep (journal on disk) {ours:.2f} s vs "
          f"plain study.optimize + run_backtest (in memory) {plain:.2f} s -> ratio {plain / ours:.2f}x")


if __name__ == "__main__":
    main()
