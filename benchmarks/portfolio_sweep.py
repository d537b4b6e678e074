"""Portfolio sweep benchmark: 20 SYNTHETIC correlated instruments x 900 parameter sets x 43,800 1h bars in one
compiled call, against the single-instrument sweep of the same grid on one of those instruments.

The grid is the 900-set EMA-cross x trailing-stop grid of `sweep_vs_vectorbt.py` (long-only, 10 bps fees,
all-in sizing). Speed is bar-evaluations per second: sets x instruments x bars / wall seconds, timed end to
end (module outputs + compiled kernel) and kernel-only, warm, best of `--repeats`. The portfolio uses fixed
equal-weight sizing (`--sizing ivol` for daily inverse-volatility rebalancing with a gross cap).
The bars come from `auraquant.cta.data.synthetic.generate_correlated` (labelled synthetic, never market data).

Run: .venv/bin/python benchmarks/portfolio_sweep.py [--instruments 20] [--bars 43800] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numba

sys.path.insert(0, str(Path(__file__).resolve().parent))

from sweep_vs_vectorbt import _grid, _spec  # noqa: E402  (the same 900-set grid and Spec as the peer benchmark)

from auraquant.cta.backtest import kernel, portfolio_kernel  # noqa: E402
from auraquant.cta.backtest.engine import _SWEEP_CHUNK, run_sweep  # noqa: E402
from auraquant.cta.backtest.portfolio import Sizing, pack, run_portfolio_sweep  # noqa: E402
from auraquant.cta.backtest.prepare import prepare  # noqa: E402
from auraquant.cta.data.synthetic import generate_correlated  # noqa: E402
from auraquant.cta.strategy.bars import bars_from_frame  # noqa: E402
from auraquant.cta.universe.align import align  # noqa: E402


def _best(fn, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--instruments", type=int, default=20)
    ap.add_argument("--bars", type=int, default=43_800)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--sizing", choices=("fixed", "ivol"), default="fixed")
    args = ap.parse_args()
    frames = generate_correlated(args.instruments, args.bars, seed=2024, correlation=0.3)
    au = align(frames)
    spec = _spec()
    grid = _grid()
    sizing = Sizing() if args.sizing == "fixed" else Sizing(rule="inverse_vol", rebalance="day", gross_cap=1.5)
    first = next(iter(frames))
    one = bars_from_frame(frames[first])
    print(f"SYNTHETIC data: {args.instruments} instruments x {args.bars} bars, {len(grid)} parameter sets, "
          f"sizing={args.sizing}, threads={numba.get_num_threads()} cpus={os.cpu_count()}")

    run_sweep(one, spec, grid[:2])  # compile / load cached kernels
    run_portfolio_sweep(au, spec, grid[:2], sizing)

    single_e2e = _best(lambda: run_sweep(one, spec, grid), args.repeats)
    prep = prepare(one, spec, grid, workers=numba.get_num_threads())

    def single_kernel() -> None:
        with numba.parallel_chunksize(_SWEEP_CHUNK):
            kernel.sweep(one.open, one.high, one.low, one.close, prep.day_id, prep.n_days, prep.sig_pool,
                         prep.allow_pool, prep.series_pool, prep.iparams, prep.fparams, prep.fill_mode, prep.policy,
                         prep.sides, prep.comm, prep.slip, prep.initial, prep.basis)

    single_k = _best(single_kernel, args.repeats)
    port_e2e = _best(lambda: run_portfolio_sweep(au, spec, grid, sizing), max(1, args.repeats - 1))
    pkd = pack(au, spec, sizing, grid, workers=numba.get_num_threads())

    def port_kernel() -> None:
        with numba.parallel_chunksize(1):
            portfolio_kernel.sweep(*pkd.args)

    port_k = _best(port_kernel, max(1, args.repeats - 1))
    evals_1 = len(grid) * len(one)
    evals_p = len(grid) * sum(len(b) for b in au.bars)
    rows = [("single-instrument sweep", evals_1, single_e2e, single_k),
            (f"portfolio sweep ({args.instruments} instr.)", evals_p, port_e2e, port_k)]
    print(f"{'':34s} {'bar-evals':>14s} {'e2e s':>8s} {'e2e evals/s':>14s} {'kernel s':>9s} {'kernel evals/s':>15s}")
    for name, ev, te, tk in rows:
        print(f"{name:34s} {ev:14,d} {te:8.3f} {ev / te:14,.0f} {tk:9.3f} {ev / tk:15,.0f}")
    r_e2e = (evals_1 / single_e2e) / (evals_p / port_e2e)
    r_k = (evals_1 / single_k) / (evals_p / port_k)
    print(f"slowdown per bar-evaluation (single / portfolio evals/s): end to end {r_e2e:.2f}x, kernel {r_k:.2f}x "
          f"(target <= 1.5x): {'OK' if r_e2e <= 1.5 else 'OVER'}")


if __name__ == "__main__":
    main()
