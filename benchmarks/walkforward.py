"""Walk-forward benchmark (issue 17, must-show 1): 5 years of Binance BTC/USDT 1h bars, 10 rolling windows x
100 trials of an EMA-cross + ATR-trailing (chandelier) spec, top-5 re-ranked on validation, chosen params
evaluated on target, target equity stitched, robustness (PBO, SPA, Monte Carlo) computed. Budget: <= 5 s
wall on 2 cores for the whole `execute` with the default sampler (`qmc_parzen`).

Printed:
1. the timed run (default sampler): wall time, the process's CPU time (on a shared machine the wall time
   also holds other processes' load; CPU / cores bounds what an idle machine would take), trials per
   second, and the split between proposing/recording trials (sampler + Optuna study) and the engine;
2. the same run with `sampler="optuna_tpe"` (Optuna's TPE asked per trial, the previous default), timed;
3. search quality per window, side by side: the best validation objective (the chosen trial's validation
   Sharpe after the top-5 re-rank, `WindowResult.validation_score`) and the best train objective of
   `qmc_parzen`, of `optuna_tpe`, and of plain Optuna TPE at the same budget (`study.optimize` with a
   seeded default `TPESampler`, 100 trials on the window's train bars, the same objective, the same
   top-5 validation re-rank); medians over windows, and whether `qmc_parzen` is no worse than plain TPE;
4. the loop a user would write (Optuna `study.optimize` + one backtesting.py backtest per trial), timed
   on window 0 (`--user-trials` of them; the time per trial is scaled to 100 trials x 10 windows), and
   its ratio to the timed run.

Layout: the last 5 years of data (43,800 bars); windows of train 8,760 (1 year), validation 2,160
(90 days), target 3,240 (135 days) bars, step = target, embargo 24 bars. The bars after the last
target are the sealed holdout. Warm-up (not timed): the compiled kernels are loaded from numba's cache
and the statistics libraries imported.

Run: .venv/bin/python benchmarks/walkforward.py [--executor threads|dask-local:2] [--trials 100]
     [--batch 10] [--seed 0] [--user-trials 100] [--repeat 1]
"""

from __future__ import annotations

import os

os.environ.setdefault("TQDM_DISABLE", "1")  # backtesting.py's progress bars (tqdm reads it when imported)

import argparse
import statistics
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pandas as pd
from optuna.distributions import FloatDistribution, IntDistribution

from auraquant.cta.backtest.engine import run_backtest, run_sweep
from auraquant.cta.experiment.config import SearchConfig, WalkForwardConfig, plan_windows
from auraquant.cta.experiment.runner import RunOutput, execute, run_from_frame
from auraquant.cta.experiment.sealed import SealedBars
from auraquant.cta.experiment.search import distributions, evaluate, sampler_seed
from auraquant.cta.experiment.window import select
from auraquant.cta.strategy.indicators import atr, ema
from auraquant.cta.strategy.spec import Spec

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "binance_BTCUSDT_1h_2017-2026.parquet"
YEARS_BARS = 5 * 8760
WF = WalkForwardConfig(train_bars=8760, validation_bars=2160, target_bars=3240, embargo_bars=24, n_windows=10)
BUDGET_S = 5.0


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
    """Load the compiled kernels (numba cache) and the statistics libraries, so the timing measures the
    run, not compilation or imports."""
    import arch.bootstrap  # noqa: F401  (SPA)
    from scipy.stats import qmc  # noqa: F401  (Sobol start)

    run_sweep(frame.iloc[:2000], s, [{"baseline.fast": 10, "baseline.slow": 50}])
    run_backtest(frame.iloc[:2000], s, record=True)


def timed_run(frame: pd.DataFrame, s: Spec, search: SearchConfig, seed: int, executor: str,
              holdout: int) -> tuple[RunOutput, SealedBars, pd.DataFrame, float, float]:
    """(output, bars, trial table, wall seconds, process CPU seconds) of one full walk-forward `execute`."""
    run, bars = run_from_frame(frame, s, WF, search, seed=seed, holdout_bars=holdout)
    with tempfile.TemporaryDirectory() as tmp:
        c0, t0 = time.process_time(), time.perf_counter()
        out = execute(run, bars, out_dir=Path(tmp) / "run", storage_url=f"journal:{tmp}/optuna.journal",
                      executor=executor)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        trials = pd.read_parquet(Path(tmp) / "run" / "trials.parquet")
    return out, bars, trials, wall, cpu


def _suggest(trial: optuna.Trial, name: str, d: Any) -> Any:
    if isinstance(d, IntDistribution):
        return trial.suggest_int(name, d.low, d.high, step=d.step, log=d.log)
    if isinstance(d, FloatDistribution):
        return trial.suggest_float(name, d.low, d.high, step=d.step, log=d.log)
    return trial.suggest_categorical(name, d.choices)


def plain_tpe_window(train: pd.DataFrame, validation: pd.DataFrame, s: Spec, search: SearchConfig,
                     seed: int) -> tuple[float, float]:
    """(best train score, validation score of the chosen trial) of plain Optuna TPE: `study.optimize` with
    a seeded default TPESampler, one engine backtest per trial, then the walk-forward's own top-k
    validation re-rank (`experiment.window.select`)."""
    dists = distributions(s)
    rows: list[dict[str, Any]] = []

    def objective(trial: optuna.Trial) -> float:
        params = {p: _suggest(trial, p, d) for p, d in dists.items()}
        row = evaluate(train, s, [params], search).iloc[0]
        rows.append({**params, **row.drop(labels=list(params)).to_dict()})
        return float(row["score"])

    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed))
    study.optimize(objective, n_trials=search.n_trials)
    trials = pd.DataFrame(rows).assign(batch=0, slot=range(len(rows)))
    trials["feasible"] = trials["feasible"].astype(bool)
    _, _, val = select(trials, list(dists), validation, s, search)
    return float(trials["score"].max()), float("nan") if val is None else val


def user_loop_window(train: pd.DataFrame, n_trials: int, seed: int) -> float:
    """Seconds per trial of the loop a user would write: `study.optimize`, each trial one backtesting.py
    backtest of EMA cross (long/short, reversal in one step) with a chandelier trailing stop."""
    from backtesting import Backtest, Strategy
    from backtesting.lib import crossover

    class EmaCrossChandelier(Strategy):
        fast, slow, period, mult = 12, 26, 22, 3.0

        def init(self) -> None:
            close = np.asarray(self.data.Close, dtype=float)
            self.f = self.I(ema, close, int(self.fast))
            self.s = self.I(ema, close, int(self.slow))
            self.a = self.I(atr, np.asarray(self.data.High, dtype=float), np.asarray(self.data.Low, dtype=float),
                            close, int(self.period))
            self.best = float("nan")

        def next(self) -> None:
            if crossover(self.f, self.s):
                self.buy()
                self.best = float("nan")
            elif crossover(self.s, self.f):
                self.sell()
                self.best = float("nan")
            a = self.a[-1]
            for tr in self.trades:
                if not np.isfinite(a):
                    continue
                if tr.is_long:
                    self.best = max(self.data.High[-1], self.best) if self.best == self.best else self.data.High[-1]
                    level = self.best - self.mult * a
                    tr.sl = level if tr.sl is None else max(tr.sl, level)
                else:
                    self.best = min(self.data.Low[-1], self.best) if self.best == self.best else self.data.Low[-1]
                    level = self.best + self.mult * a
                    tr.sl = level if tr.sl is None else min(tr.sl, level)

    data = train.rename(columns=str.capitalize).set_index("Time")
    data.index = data.index.tz_convert(None)

    def objective(trial: optuna.Trial) -> float:
        params = {"fast": trial.suggest_int("fast", 5, 60), "slow": trial.suggest_int("slow", 30, 300),
                  "period": trial.suggest_int("period", 10, 50), "mult": trial.suggest_float("mult", 1.0, 6.0)}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            stats = Backtest(data, EmaCrossChandelier, cash=1e9, commission=7e-4, exclusive_orders=True,
                             finalize_trades=True).run(**params)
        v = float(stats["Sharpe Ratio"])
        return v if np.isfinite(v) else -1e9

    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed))
    t0 = time.perf_counter()
    study.optimize(objective, n_trials=n_trials)
    return (time.perf_counter() - t0) / n_trials


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--executor", default="threads")
    ap.add_argument("--trials", type=int, default=100)
    ap.add_argument("--batch", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--user-trials", type=int, default=100, help="backtesting.py trials timed on window 0")
    ap.add_argument("--repeat", type=int, default=1, help="timed runs of the default sampler (median reported)")
    args = ap.parse_args()
    if not DATA.is_file():
        raise SystemExit(f"shared data not found: {DATA}")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    frame = pd.read_parquet(DATA).iloc[-YEARS_BARS:].reset_index(drop=True)
    s = spec()
    windows = plan_windows(len(frame), WF)
    holdout = len(frame) - windows[-1].target.stop
    fast = SearchConfig(n_trials=args.trials, batch_size=args.batch, top_k=5, n_startup_trials=10)
    tpe = fast.model_copy(update={"sampler": "optuna_tpe"})
    _warm(frame, s)
    print(f"data: {len(frame)} bars {frame.time.iloc[0]} .. {frame.time.iloc[-1]}; sealed holdout {holdout} bars")

    runs = [timed_run(frame, s, fast, args.seed, args.executor, holdout) for _ in range(args.repeat)]
    walls = [r[3] for r in runs]
    out, bars, trials, _, cpu = runs[walls.index(statistics.median_low(walls))]
    wall = statistics.median(walls)
    n = out.result.total_trials
    tm = out.timings
    busy = tm.optuna_s + tm.engine_s
    print(f"[{fast.sampler}] {len(windows)} windows x {args.trials} trials (batches of {args.batch}), executor "
          f"{args.executor}: wall {wall:.2f} s (runs: {', '.join(f'{w:.2f}' for w in walls)}; budget {BUDGET_S:.0f} s "
          f"-> {'OK' if wall <= BUDGET_S else 'OVER BUDGET'}), CPU {cpu:.2f} s")
    print(f"  trials: {n} -> {n / wall:.0f} trials/s; proposing+recording {tm.optuna_s:.2f} s ({tm.optuna_s / busy:.0%}), "
          f"engine {tm.engine_s:.2f} s ({tm.engine_s / busy:.0%}) [summed over workers; rest: selection, "
          "target, stitching, robustness, IO]")
    oos = out.result.oos
    print(f"  OOS: total return {oos.total_return:+.2%}, Sharpe {oos.sharpe}, trades {oos.trades}, "
          f"DSR {oos.dsr} (N={oos.dsr_n_trials})")

    out_tpe, _, trials_tpe, wall_tpe, cpu_tpe = timed_run(frame, s, tpe, args.seed, args.executor, holdout)
    print(f"[{tpe.sampler}] same run with Optuna TPE asked per trial: wall {wall_tpe:.2f} s, CPU {cpu_tpe:.2f} s, "
          f"proposing+recording {out_tpe.timings.optuna_s:.2f} s -> qmc_parzen is {wall_tpe / wall:.1f}x faster")

    print("search quality per window (validation = chosen trial's validation Sharpe after the top-5 re-rank; "
          "train = best train Sharpe):")
    print(f"  {'window':>6} | {'val qmc_parzen':>14} {'val optuna_tpe':>14} {'val plain TPE':>13} | "
          f"{'train qmc':>9} {'train tpe':>9} {'train plain':>11}")
    cols: dict[str, list[float]] = {k: [] for k in ("vq", "vt", "vp", "tq", "tt", "tp")}
    for w, wq, wt in zip(windows, out.result.windows, out_tpe.result.windows, strict=True):
        train = bars.segment(w.train.start, w.train.stop)
        val = bars.segment(w.validation.start, w.validation.stop)  # type: ignore[union-attr]
        tp, vp = plain_tpe_window(train, val, s, fast, sampler_seed(args.seed, w.index, 0))
        tq = trials.loc[trials["window"] == w.index, "score"].max()
        tt = trials_tpe.loc[trials_tpe["window"] == w.index, "score"].max()
        for k, v in zip(cols, (wq.validation_score, wt.validation_score, vp, tq, tt, tp), strict=True):
            cols[k].append(float(v))  # type: ignore[arg-type]
        print(f"  {w.index:>6} | {cols['vq'][-1]:>14.3f} {cols['vt'][-1]:>14.3f} {vp:>13.3f} | "
              f"{cols['tq'][-1]:>9.3f} {cols['tt'][-1]:>9.3f} {tp:>11.3f}")
    med = {k: float(np.median(v)) for k, v in cols.items()}
    print(f"  {'median':>6} | {med['vq']:>14.3f} {med['vt']:>14.3f} {med['vp']:>13.3f} | "
          f"{med['tq']:>9.3f} {med['tt']:>9.3f} {med['tp']:>11.3f}")
    print(f"  median best validation objective: qmc_parzen {med['vq']:.3f} vs plain TPE {med['vp']:.3f} -> "
          f"{'no worse' if med['vq'] >= med['vp'] else 'WORSE'}; windows where qmc_parzen >= plain TPE: "
          f"{sum(a >= b for a, b in zip(cols['vq'], cols['vp'], strict=True))}/{len(windows)}")

    if args.user_trials > 0:
        w0 = windows[0]
        per_trial = user_loop_window(bars.segment(w0.train.start, w0.train.stop), args.user_trials, args.seed)
        user = per_trial * args.trials * len(windows)
        print(f"user loop (Optuna study.optimize + backtesting.py): {per_trial * 1e3:.1f} ms/trial on window 0 "
              f"({args.user_trials} trials timed) -> {user:.1f} s for {len(windows)} x {args.trials} trials "
              f"(search only, scaled) vs {wall:.2f} s for the full walk-forward -> ratio {user / wall:.0f}x")


if __name__ == "__main__":
    main()
