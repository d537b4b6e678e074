"""Estimate vs measured: is `auraquant cloud estimate` within 2x of the real run time on this machine?

For a few sweep jobs of growing size on the shared BTC/USDT 1h bars (EMA cross + percent trailing stop), it
builds the bundle, calibrates the engine (the same `cost.calibrate` the CLI uses), estimates the local run
time, then runs the job exactly as `auraquant job run` does (`runner.run_job`, best of 2). It prints
estimate, measurement, their ratio and the calibration's own cost, and exits 1 if any ratio is outside
[0.5, 2].

    .venv/bin/python benchmarks/cloud_estimate.py [--quick]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from itertools import product
from pathlib import Path

import pandas as pd

from auraquant.cta.cloud.bundle import make_job, write_bundle
from auraquant.cta.cloud.cost import calibrate, estimate_job
from auraquant.cta.cloud.runner import run_job
from auraquant.cta.strategy.spec import Spec

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "binance_BTCUSDT_1h_2017-2026.parquet"
SPEC = Spec(name="ema-trail", baseline={"name": "ema_cross", "params": {"fast": 12, "slow": 26}},
            execution=[{"name": "trailing_pct", "params": {"pct": 0.05}}])


def param_grid(n: int) -> list[dict[str, float]]:
    grid = [{"baseline.fast": f, "baseline.slow": s, "execution.trailing_pct.pct": p}
            for f, s, p in product(range(3, 60, 2), range(40, 400, 10), (0.02, 0.03, 0.05, 0.08))]
    return grid[:: max(1, len(grid) // n)][:n]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="two small jobs only")
    args = ap.parse_args()
    if not DATA.is_file():
        print(f"shared data not found at {DATA}; nothing to benchmark")
        return 0
    bars = pd.read_parquet(DATA)
    jobs = [(20_000, 100), (43_800, 400)]
    if not args.quick:
        jobs += [(len(bars), 1_200), (len(bars), 3_000)]
    print(f"{'bars':>8} {'sets':>5} {'units':>12} {'calib s':>8} {'estimate s':>10} {'measured s':>10} {'ratio':>6}")
    worst = 1.0
    with tempfile.TemporaryDirectory() as tmp:
        for n_bars, n_sets in jobs:
            b = bars.iloc[-n_bars:].reset_index(drop=True)
            job = make_job(b, SPEC, param_sets=param_grid(n_sets), top_k=3, symbol="BTC/USDT", timeframe="1h")
            path = write_bundle(job, b, tmp)
            cal = calibrate(job, b)
            est = estimate_job(job, cal)
            measured = float("inf")
            for attempt in range(2):  # best of 2, as the calibration takes best-of timings (shared machines)
                t0 = time.perf_counter()
                run_job(path, Path(tmp) / f"{job.id}-{attempt}")
                measured = min(measured, time.perf_counter() - t0)
            ratio = est.local_s / measured
            worst = max(worst, ratio, 1 / ratio)
            print(f"{n_bars:>8,} {len(job.param_sets):>5} {est.units:>12,} {cal.measured_s:>8.2f} "
                  f"{est.local_s:>10.2f} {measured:>10.2f} {ratio:>6.2f}")
    ok = worst <= 2.0
    print(f"worst estimate/measured factor: {worst:.2f} ({'within' if ok else 'OUTSIDE'} 2x)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
