"""Walk-forward verification cost: is checking an offloaded walk-forward at most 25% of running it here?

Builds a walk-forward job bundle (EMA cross + percent trailing stop, TPE search per window) on the shared
BTC/USDT 1h bars (synthetic bars when the shared data is absent, labelled so), runs it exactly as
`auraquant job run` does (`runner.run_job`), then verifies the result as `auraquant cloud run` does
(`trust.verify_results`: per window the selected parameters on target, the validation candidates, the
selected trial and the default audit sample on train, the stitched curve rebuilt, the search proposals
replayed in the default sample of windows). Both are timed after a warm-up (Numba compilation excluded),
best of `--repeat`. Prints both times and their ratio, and the same for a sweep of the same bars for
comparison; exits 1 if the walk-forward ratio is above 0.25.

    .venv/bin/python benchmarks/cloud_verify.py [--quick] [--repeat N]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from auraquant.cta.cloud.bundle import make_job, write_bundle
from auraquant.cta.cloud.runner import run_job
from auraquant.cta.cloud.trust import verify_results
from auraquant.cta.experiment.config import SearchConfig
from auraquant.cta.strategy.spec import Spec

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "binance_BTCUSDT_1h_2017-2026.parquet"
SPEC = Spec(name="ema-trail-wf", baseline={"name": "ema_cross", "params": {"fast": 12, "slow": 26}},
            execution=[{"name": "trailing_pct", "params": {"pct": 0.05}}],
            search_space={"baseline.fast": {"kind": "int", "low": 3, "high": 60},
                          "baseline.slow": {"kind": "int", "low": 40, "high": 400},
                          "execution.trailing_pct.pct": {"kind": "float", "low": 0.01, "high": 0.15}})
TARGET = 0.25


def _bars(n: int) -> tuple[pd.DataFrame, str]:
    if DATA.is_file():
        return pd.read_parquet(DATA).iloc[-n:].reset_index(drop=True), "BTC/USDT 1h (shared data)"
    from auraquant.cta.data.synthetic import generate

    return generate(n, seed=7), "SYNTHETIC bars (shared data absent)"


def _timed(fn, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="a smaller job (fewer bars and trials)")
    ap.add_argument("--repeat", type=int, default=1, help="best of N timings (default 1)")
    args = ap.parse_args()
    n_bars = 12_000 if args.quick else 30_000
    bars, label = _bars(n_bars)
    # The experiment layer's default search (SearchConfig(): 100 TPE trials in batches of 25, top 5 re-ranked
    # on validation): what a walk-forward offloaded without tuning runs.
    search = {"walk_forward": {"train_bars": 4_000, "validation_bars": 1_000, "target_bars": 2_000}, "search": {}}
    n_trials = SearchConfig().n_trials
    job = make_job(bars, SPEC, kind="walkforward", search=search, seed=1, symbol="BTC/USDT", timeframe="1h")
    with tempfile.TemporaryDirectory(prefix="aq-bench-verify-") as tmp:
        bundle = write_bundle(job, bars, tmp)
        # warm-up: compile the kernel and import everything once (not part of either timing)
        warm = make_job(bars.iloc[:2_600], SPEC, kind="walkforward", seed=1, search={
            "walk_forward": {"train_bars": 1_000, "validation_bars": 300, "target_bars": 500},
            "search": {"n_trials": 4, "batch_size": 4, "top_k": 2, "n_startup_trials": 4}})
        wb = write_bundle(warm, bars.iloc[:2_600], Path(tmp) / "warm")
        verify_results(wb, run_job(wb, Path(tmp) / "warm-out").out_dir)
        out = Path(tmp) / "out"
        counter = iter(range(10**6))
        local_s = _timed(lambda: run_job(bundle, out / str(next(counter))), args.repeat)
        result = out / "0"
        secret = os.urandom(32)
        verify_s = _timed(lambda: verify_results(bundle, result, secret=secret), args.repeat)
        v = verify_results(bundle, result, secret=secret)
        # For comparison, a sweep (top 3 re-run + the default 10% audit): not part of the pass/fail target.
        from itertools import product

        sets = [{"baseline.fast": f, "baseline.slow": sl, "execution.trailing_pct.pct": p}
                for f, sl, p in product(range(3, 60, 2), range(40, 400, 10), (0.02, 0.05, 0.08))]
        sweep = make_job(bars, SPEC, param_sets=sets, top_k=3, symbol="BTC/USDT", timeframe="1h")
        sweep_bundle = write_bundle(sweep, bars, Path(tmp) / "sweep")
        sweep_local_s = _timed(lambda: run_job(sweep_bundle, out / f"s{next(counter)}"), args.repeat)
        sweep_result = next(p for p in sorted(out.iterdir()) if p.name.startswith("s"))
        sweep_verify_s = _timed(lambda: verify_results(sweep_bundle, sweep_result, secret=secret), args.repeat)
    ratio = verify_s / local_s
    windows = len(v.reproduced_trials)
    print(f"data: {label}, {n_bars:,} bars; {windows} windows x {n_trials} trials (default search; "
          f"train 4,000 / validation 1,000 / target 2,000 bars)")
    print(f"{'run locally (job run)':<34} {local_s:>8.2f} s")
    print(f"{'verify (trust.verify_results)':<34} {verify_s:>8.2f} s")
    print(f"verification / local run ratio: {ratio:.3f} (target <= {TARGET}); "
          f"audited {len(v.audited_trials)} of {v.auditable} non-selected trials, "
          f"hidden-best escape probability per window <= {v.escape_probability:.3f}; search proposals replayed "
          f"in {len(v.details['walkforward']['replayed_windows'])} of {windows} windows")
    print(f"sweep of {len(sets)} sets for comparison: run {sweep_local_s:.2f} s, verify {sweep_verify_s:.2f} s "
          f"(ratio {sweep_verify_s / sweep_local_s:.3f})")
    return 0 if ratio <= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
