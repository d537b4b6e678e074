"""Scaling curves (issue 17, must-show 5): sweep time against the number of bars and against the number of
parameter sets, as time per bar-evaluation (one parameter set over one bar), and a walk-forward on 1 vs 2
Dask worker processes.

- Bars curve: `--sets-for-bars` sets (default 32) swept over 10 thousand to 10 million synthetic bars
  (`auraquant.cta.data.synthetic.generate`; 1m bars, since 10 million hourly bars would run past the
  year 2262 that pandas timestamps reach).
- Sets curve: 10 to 100 thousand sets over `--bars-for-sets` bars (default 20,000).
- Sets are drawn once from a fixed seeded distribution (EMA cross fast 5-50, slow 60-200, trailing stop
  2-10%), the first k of that one list for k sets, so every point prices the same kind of strategy.
- Each point is a whole `run_sweep` call on validated bars (signal preparation for every distinct
  parameter set, the compiled sweep, the metrics table), warm (kernels loaded), best of up to `--repeats`
  runs with a cold indicator cache; a point whose run takes > 2 s is timed once. Synthetic generation
  is not timed.
- Walk-forward: the same Run (synthetic bars; 8 windows x 100 trials, `--quick` 4 x 40) on a Dask `LocalCluster` of 1 then 2 single-threaded
  worker processes; cluster start-up and each worker's first kernel load are excluded (a warm-up runs on
  every worker first). Results are checked identical.
`prepare s` is the signal preparation alone and `rest ns/eval` the remainder (compiled sweep + metrics
table) per bar-evaluation, to show which part departs from linear scaling.
The ratio printed next to each point is its time per bar-evaluation over the curve's reference point
(100 thousand bars / 100 sets when measured); must-show 5 asks for it to stay within 20%.

Run: .venv/bin/python benchmarks/scaling.py [--quick] [--bars 10000,100000] [--sets 10,100] [--no-dask]
`--quick` measures a subset (bars up to 1 million, sets up to 10 thousand, a smaller walk-forward).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numba
import numpy as np

from auraquant.cta.backtest.engine import run_sweep
from auraquant.cta.backtest.prepare import prepare
from auraquant.cta.data.synthetic import generate
from auraquant.cta.strategy.bars import Bars, bars_from_frame
from auraquant.cta.strategy.spec import Spec

SPEC = Spec(name="ema-trail", baseline={"name": "ema_cross", "params": {"fast": 12, "slow": 26}},
            execution=[{"name": "trailing_pct", "params": {"pct": 0.05}}],
            engine={"commission_bps": 5, "slippage_bps": 2})
WF_SPEC = Spec.model_validate({
    "name": "ema-chandelier", "baseline": {"name": "ema_cross", "params": {"fast": 12, "slow": 26}},
    "execution": [{"name": "chandelier", "params": {"period": 22, "mult": 3.0}}],
    "search_space": {"baseline.fast": {"kind": "int", "low": 3, "high": 40},
                     "baseline.slow": {"kind": "int", "low": 30, "high": 200},
                     "execution.chandelier.mult": {"kind": "float", "low": 1.0, "high": 5.0}},
    "engine": {"commission_bps": 5, "slippage_bps": 2}})

FULL_BARS = [10_000, 100_000, 1_000_000, 10_000_000]
FULL_SETS = [10, 100, 1_000, 10_000, 100_000]
QUICK_BARS = [10_000, 100_000, 1_000_000]
QUICK_SETS = [10, 100, 1_000, 10_000]
TIMEFRAME = "1m"


def param_sets(n: int, seed: int = 0) -> list[dict[str, float | int]]:
    """The first `n` sets of one seeded list (so a bigger point extends a smaller one)."""
    rng = np.random.Generator(np.random.PCG64(seed))
    m = max(n, 1)
    fast = rng.integers(5, 51, m)
    slow = rng.integers(60, 201, m)
    pct = np.round(rng.uniform(0.02, 0.10, m), 3)
    return [{"baseline.fast": int(f), "baseline.slow": int(s), "execution.trailing_pct.pct": float(p)}
            for f, s, p in zip(fast[:n], slow[:n], pct[:n], strict=True)]


def best_time(fn: Callable[[], object], repeats: int) -> float:
    """Best wall time of `fn` over up to `repeats` runs; one run when it takes more than 2 s."""
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
        if best > 2.0:
            break
    return best


def _curve(title: str, label: str, points: list[tuple[int, int, int]], reference: int, repeats: int,
           bars_of: Callable[[int], Bars]) -> None:
    """Time each (x, n_bars, n_sets) point and print time per bar-evaluation against the reference x."""
    print(title)
    print(f"  {label:>12} {'bars':>12} {'sets':>8} {'sweep s':>10} {'ns/bar-eval':>12} {'vs ref':>8}"
          f" {'prepare s':>10} {'rest ns/eval':>13}")
    rows = []
    for x, n_bars, n_sets in points:
        bars, sets = bars_of(n_bars), param_sets(n_sets)
        # `replace` gives a Bars over the same arrays with an empty indicator cache: every run computes its
        # indicators (a warm cache would make repeated small points look cheaper than one big point).
        t = best_time(lambda b=bars, s=sets: run_sweep(replace(b), SPEC, s), repeats)
        # The signal preparation alone (indicators of every distinct set, the day index), to tell apart
        # the Python/NumPy preparation from the compiled sweep it feeds.
        tp = best_time(lambda b=bars, s=sets: prepare(replace(b), SPEC, s, None, workers=numba.get_num_threads()),
                       repeats)
        evals = n_bars * n_sets
        rows.append((x, n_bars, n_sets, t, t / evals * 1e9, tp, max(t - tp, 0.0) / evals * 1e9))
    ref = next((r[4] for r in rows if r[0] == reference), rows[0][4])
    for x, n_bars, n_sets, t, ns, tp, rest in rows:
        print(f"  {x:>12,} {n_bars:>12,} {n_sets:>8,} {t:>10.4f} {ns:>12.3f} {ns / ref:>8.2f} {tp:>10.4f}"
              f" {rest:>13.3f}")
    print()


def _warm_worker() -> None:
    """Load the compiled kernels in a worker process (numba cache) before the timed run."""
    run_sweep(generate(2_000, seed=1), WF_SPEC, [{"baseline.fast": 10, "baseline.slow": 50}])


def walkforward_on_dask(n_bars: int, n_windows: int, n_trials: int) -> None:
    """Time one walk-forward on LocalClusters of 1 and 2 worker processes; results must be identical."""
    from auraquant.cta.experiment.config import SearchConfig, WalkForwardConfig
    from auraquant.cta.experiment.executors import DaskExecutor
    from auraquant.cta.experiment.runner import execute, run_from_frame

    target = 1_000
    train, validation = 3 * target, target
    wf = WalkForwardConfig(train_bars=train, validation_bars=validation, target_bars=target, embargo_bars=10,
                           n_windows=n_windows)
    need = train + validation + 10 + n_windows * target + 500
    frame = generate(max(n_bars, need), seed=42)
    search = SearchConfig(n_trials=n_trials, batch_size=max(1, n_trials // 4), n_startup_trials=min(10, n_trials),
                          top_k=3)
    run, bars = run_from_frame(frame, WF_SPEC, wf, search, seed=7, holdout_bars=500)
    print(f"Walk-forward on a Dask LocalCluster: {len(frame):,} bars, {n_windows} windows x {n_trials} trials")
    fingerprints, walls = [], {}
    for workers in (1, 2):
        ex = DaskExecutor(None, n_workers=workers)
        try:
            ex.client.run(_warm_worker)
            with tempfile.TemporaryDirectory() as tmp:
                t0 = time.perf_counter()
                out = execute(run, bars, out_dir=Path(tmp) / "out", storage_url=f"journal:{Path(tmp) / 'j.journal'}",
                              executor=ex, robustness=None)
                walls[workers] = time.perf_counter() - t0
                fingerprints.append((out.result.model_dump(exclude={"finished_at", "artifacts"}),
                                     (Path(tmp) / "out" / "oos_equity.parquet").read_bytes()))
        finally:
            ex.close()
        print(f"  {workers} worker{'s' if workers > 1 else ' '}  {walls[workers]:8.2f} s")
    print(f"  speed-up 2 vs 1: {walls[1] / walls[2]:.2f}x; results identical: {fingerprints[0] == fingerprints[1]}")
    print()


def _ints(text: str) -> list[int]:
    return [int(v.replace("_", "")) for v in text.split(",") if v.strip()]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="a subset: bars up to 1M, sets up to 10k")
    ap.add_argument("--bars", type=_ints, help="comma-separated bar counts for the bars curve")
    ap.add_argument("--sets", type=_ints, help="comma-separated set counts for the sets curve")
    ap.add_argument("--sets-for-bars", type=int, default=32)
    ap.add_argument("--bars-for-sets", type=int, default=20_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--no-dask", action="store_true", help="skip the walk-forward on 1 vs 2 Dask workers")
    args = ap.parse_args()
    bars_points = args.bars or (QUICK_BARS if args.quick else FULL_BARS)
    sets_points = args.sets or (QUICK_SETS if args.quick else FULL_SETS)

    frames: dict[int, Bars] = {}

    def bars_of(n: int) -> Bars:
        # Validated once, outside the timing (as a search holds its bars); one series in memory at a time
        # (10 million bars are ~0.5 GB).
        if n not in frames:
            frames.clear()
            frames[n] = bars_from_frame(generate(n, seed=42, timeframe=TIMEFRAME))
        return frames[n]

    run_sweep(generate(2_000, seed=1), SPEC, param_sets(4))  # load the compiled kernels
    _curve(f"Sweep time against bars ({args.sets_for_bars} sets):", "bars",
           [(n, n, args.sets_for_bars) for n in bars_points], 100_000, args.repeats, bars_of)
    _curve(f"Sweep time against parameter sets ({args.bars_for_sets:,} bars):", "sets",
           [(k, args.bars_for_sets, k) for k in sets_points], 100, args.repeats, bars_of)
    if not args.no_dask:
        if args.quick:
            walkforward_on_dask(12_000, n_windows=4, n_trials=40)
        else:
            walkforward_on_dask(20_000, n_windows=8, n_trials=100)


if __name__ == "__main__":
    main()
