"""Isolation overhead: an agent-written EMA-cross module swept in the sandbox worker vs the same code in-process.

The agent module is the built-in `ema_cross` source under another name (`agent_ema_cross`), written into a
temporary workspace's `cta_runtime/baselines/`. The grid is the 900-set EMA-cross x trailing-stop grid of
`sweep_vs_vectorbt.py` on 43,800 1h BTC bars (synthetic bars of the same length when ../shared/data is
absent). In-process = `run_sweep` of the built-in `ema_cross` (identical code, the fast path built-ins
keep); isolated = `run_sweep` of `agent_ema_cross`, whose module outputs and kernel run inside a reused
worker (one round trip per sweep). Both are timed warm (best of N); the first isolated call, which
starts the worker, is printed separately. The tables must be bit-identical. Target: ratio <= 1.3x.

Run: .venv/bin/python benchmarks/module_isolation.py [--repeats 10]
     [--level auto|bubblewrap|landlock|rlimits-only|all]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numba
import pandas as pd
from sweep_vs_vectorbt import DATA, FEE, N_BARS, _grid  # the same 900-set grid and bars as the peer benchmark

from auraquant.cta.backtest.engine import run_sweep
from auraquant.cta.sandbox import isolation
from auraquant.cta.sandbox.client import POOL
from auraquant.cta.sandbox.policy import bwrap_path, landlock_abi
from auraquant.cta.strategy.loader import _BUILTIN_ROOT
from auraquant.cta.strategy.spec import Spec


def _spec(baseline: str) -> Spec:
    return Spec(baseline={"name": baseline}, execution={"name": "trailing_pct"},
                risk={"name": "fixed_fraction", "params": {"fraction": 1 / (1 + FEE)}},
                engine={"commission_bps": FEE * 1e4, "sides": "long"})


def _frame() -> tuple[pd.DataFrame, str]:
    if DATA.is_file():
        return pd.read_parquet(DATA).iloc[:N_BARS].reset_index(drop=True), f"{DATA.name}"
    from auraquant.cta.data import synthetic
    return synthetic.generate(N_BARS, seed=3, timeframe="1h", start="2020-01-01"), "synthetic (shared data absent)"


def _best(fn, repeats: int) -> tuple[float, pd.DataFrame]:
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--level", default="all", choices=["auto", "bubblewrap", "landlock", "rlimits-only", "all"])
    args = ap.parse_args()
    frame, source = _frame()
    grid = _grid()
    print(f"bars={len(frame)} ({source}) sets={len(grid)} threads={numba.get_num_threads()} cpus={os.cpu_count()}")
    with tempfile.TemporaryDirectory(prefix="aq_bench_ws_") as tmp:
        runtime = Path(tmp) / "cta_runtime"
        (runtime / "baselines").mkdir(parents=True)
        src = (_BUILTIN_ROOT / "baselines" / "ema_cross.py").read_text()
        (runtime / "baselines" / "agent_ema_cross.py").write_text(
            src.replace('name = "ema_cross"', 'name = "agent_ema_cross"'))
        builtin, agent = _spec("ema_cross"), _spec("agent_ema_cross")
        run_sweep(frame, builtin, grid[:2])  # compile / load the cached kernel
        t_in, ref = _best(lambda: run_sweep(frame, builtin, grid), args.repeats)
        print(f"in-process (built-in ema_cross, same code)        : {t_in * 1e3:8.1f} ms", flush=True)
        levels = ["bubblewrap", "landlock", "rlimits-only"] if args.level == "all" else [args.level]
        for level in levels:
            if level == "bubblewrap" and bwrap_path()[0] is None:
                print(f"bubblewrap: skipped ({bwrap_path()[1]})")
                continue
            if level == "landlock" and landlock_abi() < 1:
                print("landlock: skipped (no Landlock in this kernel)")
                continue
            os.environ["AURAQUANT_SANDBOX"] = level
            t0 = time.perf_counter()
            first = run_sweep(frame, agent, grid, extra_dir=runtime)
            t_first = time.perf_counter() - t0
            t_iso, table = _best(lambda: run_sweep(frame, agent, grid, extra_dir=runtime), args.repeats)
            same = first.equals(ref) and table.equals(ref)
            in_force = isolation.level_in_force(runtime)
            print(f"isolated   ({in_force:<12}) first call, worker start: {t_first * 1e3:8.1f} ms")
            print(f"isolated   ({in_force:<12}) warm worker, best of {args.repeats:<3}: {t_iso * 1e3:8.1f} ms  "
                  f"-> ratio {t_iso / t_in:.2f}x (target <= 1.3x); tables bit-identical: {same}")
            POOL.close()
        os.environ.pop("AURAQUANT_SANDBOX", None)


if __name__ == "__main__":
    main()
