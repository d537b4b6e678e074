"""Single-backtest latency: a warm full-artifact backtest of 43,800 1h BTC bars (target <= 10 ms), and the
wall time of a second `auraquant backtest` process on cached kernels (target < 3 s).

Run: .venv/bin/python benchmarks/backtest_speed.py [--repeats 20]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from auraquant.cta.backtest import kernel
from auraquant.cta.backtest.engine import run_backtest
from auraquant.cta.backtest.prepare import prepare
from auraquant.cta.strategy.bars import bars_from_frame
from auraquant.cta.strategy.spec import Spec

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "binance_BTCUSDT_1h_2017-2026.parquet"
SPEC = Spec(baseline={"name": "ema_cross", "params": {"fast": 12, "slow": 48}},
            filters=[{"name": "adx_trend"}],
            execution=[{"name": "fixed_sltp", "params": {"sl_pct": 0.03, "tp_pct": 0.08}},
                       {"name": "trailing_pct", "params": {"pct": 0.05}}],
            risk=[{"name": "fixed_fraction"}], engine={"commission_bps": 10, "slippage_bps": 2})


def _best(fn, repeats: int) -> float:
    fn()
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=20)
    args = ap.parse_args()
    if not DATA.is_file():
        raise SystemExit(f"shared data not found: {DATA}")
    frame = pd.read_parquet(DATA).iloc[:43_800].reset_index(drop=True)
    bars = bars_from_frame(frame)
    prep = prepare(bars, SPEC)
    full = _best(lambda: run_backtest(frame, SPEC), args.repeats)
    from_bars = _best(lambda: run_backtest(bars, SPEC), args.repeats)
    kern = _best(lambda: kernel.simulate(*prep.kernel_args(0), True), args.repeats)
    metrics_only = _best(lambda: run_backtest(bars, SPEC, record=False), args.repeats)
    print(f"43,800 bars, best of {args.repeats} warm runs:")
    print(f"  run_backtest(DataFrame, record=True)  {full * 1e3:8.2f} ms   (validation + modules + kernel + artifacts)")
    print(f"  run_backtest(Bars, record=True)       {from_bars * 1e3:8.2f} ms")
    print(f"  run_backtest(Bars, record=False)      {metrics_only * 1e3:8.2f} ms")
    print(f"  kernel.simulate(record=True)          {kern * 1e3:8.2f} ms")
    print(f"  target <= 10 ms for the full-artifact backtest: {'MET' if full <= 0.010 else 'NOT MET'}")

    tmp = Path(tempfile.mkdtemp())
    try:
        data = tmp / "bars.parquet"
        frame.to_parquet(data)
        cmd = [sys.executable, "-m", "auraquant.cta.backtest.cli", "--data", str(data), "--baseline", "ema_cross",
               "--execution", "fixed_sltp", "--param", "baseline.fast=12", "--param", "baseline.slow=48",
               "--commission-bps", "10", "--out", str(tmp / "arts"), "--json"]
        walls = []
        for _ in range(3):
            t0 = time.perf_counter()
            subprocess.run(cmd, check=True, capture_output=True)
            walls.append(time.perf_counter() - t0)
        print(f"  `auraquant backtest` process wall (cached kernels): first {walls[0]:.2f} s, then "
              f"{walls[1]:.2f} s, {walls[2]:.2f} s; target < 3 s: {'MET' if min(walls[1:]) < 3 else 'NOT MET'}")
    finally:
        shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
