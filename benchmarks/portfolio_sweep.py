"""Portfolio sweep benchmark: 20 SYNTHETIC correlated instruments x 900 parameter sets x 43,800 1h bars in one
compiled call, against the single-instrument sweep of the same grid on one of those instruments.

The grid is the 900-set EMA-cross x trailing-stop grid of `sweep_vs_vectorbt.py` (long-only, 10 bps fees,
all-in sizing). Speed is bar-evaluations per second: sets x instruments x bars / wall seconds, timed end to
end (module outputs + compiled kernel) and kernel-only, warm, best of `--repeats`. The portfolio uses fixed
equal-weight sizing (`--sizing ivol` for daily inverse-volatility rebalancing with a gross cap).
The bars come from `auraquant.cta.data.synthetic.generate_correlated` (labelled synthetic, never market data).
The single-instrument rate is printed for one instrument and for all of them in turn (instruments differ in
how much they trade, so the second is the like-for-like baseline). Where the time goes: a portfolio needs each
member's NAV at every bar, so each member runs the engine's kernel with per-bar recording on (equity,
position and decision arrays), which the single-instrument sweep never writes; the combination into the
portfolio NAV adds one pass over the calendar per member.

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

from sweep_vs_vectorbt import _grid, _spec

from auraquant.cta.backtest import kernel, portfolio_kernel
from auraquant.cta.backtest.engine import _SWEEP_CHUNK, run_sweep
from auraquant.cta.backtest.portfolio import FIXED_BLOCK, Sizing, pack, run_portfolio_sweep
from auraquant.cta.backtest.prepare import prepare
from auraquant.cta.data.synthetic import generate_correlated
from auraquant.cta.strategy.bars import bars_from_frame
from auraquant.cta.universe.align import align


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

    # single-instrument sweep: the engine's `run_sweep` on one instrument, and on every instrument in turn
    # (the same bar-evaluations as the portfolio; instruments differ in how much they trade)
    single_e2e = _best(lambda: run_sweep(one, spec, grid), args.repeats)
    every_e2e = _best(lambda: [run_sweep(b, spec, grid) for b in au.bars], max(1, args.repeats - 1))
    preps = [prepare(b, spec, grid, workers=numba.get_num_threads()) for b in au.bars]

    def single_kernel(bars_list, prep_list) -> None:
        with numba.parallel_chunksize(_SWEEP_CHUNK):
            for b, p in zip(bars_list, prep_list, strict=True):
                kernel.sweep(b.open, b.high, b.low, b.close, p.day_id, p.n_days, p.sig_pool, p.allow_pool,
                             p.series_pool, p.iparams, p.fparams, p.fill_mode, p.policy, p.sides, p.comm, p.slip,
                             p.initial, p.basis)

    single_k = _best(lambda: single_kernel([one], preps[:1]), args.repeats)
    every_k = _best(lambda: single_kernel(list(au.bars), preps), max(1, args.repeats - 1))
    port_e2e = _best(lambda: run_portfolio_sweep(au, spec, grid, sizing), max(1, args.repeats - 1))
    pkd = pack(au, spec, sizing, grid, workers=numba.get_num_threads())

    def port_kernel() -> None:
        with numba.parallel_chunksize(1):
            if sizing.dynamic:
                portfolio_kernel.sweep(*pkd.args)
            else:
                portfolio_kernel.sweep_fixed(*pkd.args[:31], FIXED_BLOCK)

    port_k = _best(port_kernel, max(1, args.repeats - 1))
    evals_1 = len(grid) * len(one)
    evals_p = len(grid) * sum(len(b) for b in au.bars)
    rows = [("single-instrument sweep, 1 instr.", evals_1, single_e2e, single_k),
            (f"single-instrument sweeps, {args.instruments} instr.", evals_p, every_e2e, every_k),
            (f"portfolio sweep ({args.instruments} instr.)", evals_p, port_e2e, port_k)]
    print(f"{'':38s} {'bar-evals':>14s} {'e2e s':>8s} {'e2e evals/s':>14s} {'kernel s':>9s} {'kernel evals/s':>15s}")
    for name, ev, te, tk in rows:
        print(f"{name:38s} {ev:14,d} {te:8.3f} {ev / te:14,.0f} {tk:9.3f} {ev / tk:15,.0f}")
    for label, ev, te, tk in rows[:2]:
        r_e2e = (ev / te) / (evals_p / port_e2e)
        r_k = (ev / tk) / (evals_p / port_k)
        print(f"slowdown vs {label}: end to end {r_e2e:.2f}x, kernel {r_k:.2f}x (target <= 1.5x): "
              f"{'OK' if r_e2e <= 1.5 else 'OVER'}")


if __name__ == "__main__":
    main()
