"""Peak memory of a 5,000,000-bar backtest with full artifacts (target < 1.5 GB RSS), artifacts saved.

Bars are a seeded synthetic random walk (1-minute spacing), clearly labelled synthetic. Prints the peak
RSS of this process (ru_maxrss) before and after the backtest.

Run: .venv/bin/python benchmarks/backtest_memory.py [--bars 5000000]
"""

from __future__ import annotations

import argparse
import resource
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def synthetic_bars(n: int, seed: int = 0) -> pd.DataFrame:
    """SYNTHETIC: a seeded geometric random walk with gapped opens, 1-minute bars from 2020-01-01 UTC."""
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.001, n)))
    open_ = np.empty(n)
    open_[0] = 100.0
    open_[1:] = close[:-1] * (1.0 + rng.normal(0.0, 0.0002, n - 1))
    spread = np.abs(rng.normal(0.0, 0.0008, n))
    high = np.maximum(open_, close) * (1.0 + spread)
    low = np.minimum(open_, close) * (1.0 - spread)
    time_ = pd.date_range("2020-01-01", periods=n, freq="min", tz="UTC")
    return pd.DataFrame({"time": time_, "open": open_, "high": high, "low": low, "close": close,
                         "volume": np.ones(n)})


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bars", type=int, default=5_000_000)
    args = ap.parse_args()
    from auraquant.cta.backtest.artifacts import save_artifacts
    from auraquant.cta.backtest.engine import run_backtest
    from auraquant.cta.strategy.spec import Spec

    spec = Spec(baseline={"name": "ema_cross", "params": {"fast": 60, "slow": 240}},
                filters=[{"name": "atr_regime", "params": {"period": 60, "max_pct": 0.01}}],
                execution=[{"name": "atr_stop", "params": {"period": 60, "sl_mult": 3.0}},
                           {"name": "trailing_pct", "params": {"pct": 0.01}}],
                risk=[{"name": "vol_target", "params": {"lookback": 1440}}, {"name": "leverage_cap"}],
                engine={"commission_bps": 5})
    frame = synthetic_bars(args.bars)
    base = _peak_mb()
    t0 = time.perf_counter()
    result = run_backtest(frame, spec)
    t1 = time.perf_counter()
    out = Path(tempfile.mkdtemp())
    try:
        files = save_artifacts(result, out)
        t2 = time.perf_counter()
        size = sum((out / f).stat().st_size for f in files) / 1e6
    finally:
        shutil.rmtree(out)
    peak = _peak_mb()
    print(f"bars={args.bars:,} (synthetic) trades={len(result.trades):,} filter decisions="
          f"{len(result.filter_decisions):,} risk decisions={len(result.risk_decisions):,}")
    print(f"backtest {t1 - t0:.2f} s, saving artifacts {t2 - t1:.2f} s ({size:.1f} MB on disk)")
    print(f"peak RSS: {peak:.0f} MB (after building the input frame: {base:.0f} MB); "
          f"target < 1536 MB: {'MET' if peak < 1536 else 'NOT MET'}")


if __name__ == "__main__":
    main()
