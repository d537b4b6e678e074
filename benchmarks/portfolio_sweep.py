"""Portfolio sweep benchmark: 20 SYNTHETIC correlated instruments x 900 parameter sets x 43,800 1h bars in one
compiled call, against single-instrument sweeps of the same grid on the same instruments.

The grid is the 900-set EMA-cross x trailing-stop grid of `sweep_vs_vectorbt.py` (long-only, 10 bps fees,
all-in sizing). The bars come from `auraquant.cta.data.synthetic.generate_correlated` (labelled synthetic,
never market data). The portfolio uses fixed equal-weight sizing (`--sizing ivol`: daily inverse-volatility
rebalancing with a gross cap).

The comparison (what "within 1.5x" is measured on):
- Work: both sides do the same bar-evaluations, sets x sum of the instruments' bars (788,400,000 by default):
  the single-instrument side sweeps the whole grid on every instrument in turn (`engine.run_sweep`), the
  portfolio side sweeps it on the universe (`portfolio.run_portfolio_sweep`), whose members run the same
  engine kernel and are combined into one portfolio NAV per set. Instruments differ in how much they trade,
  so a single instrument alone is not the same work; its rate is printed for reference only.
- Threads: both sides run on the same numba thread count (`--threads`, default numba's), set before any
  timing and passed to both entry points.
- Timing: end to end (module outputs + compiled kernel + result table) and kernel only (prepared inputs),
  warm (compiled kernels loaded first); the two sides alternate within each repeat so that load from other
  processes hits both alike, and each side's best of `--repeats` is reported.
- Rate: bar-evaluations / wall seconds; the slowdown is single rate / portfolio rate.

Where the portfolio's extra time goes: every member must deliver its NAV at every bar for the set's portfolio NAV
row, which a plain sweep never produces, and each set's NAV path is then judged once more on the common calendar
(drawdown, daily returns, metrics). Under fixed sizing the kernel adds a member's weighted NAV straight into the
set's row as it runs (its sinks; nothing recorded or re-read), members run in rounds so that both threads work on
the same member's bars at once (`portfolio_kernel.sweep_fixed`), and the kernel is compiled with its recording
switched off as a constant (a runtime flag cost about 15%). What remains is the sinks' own work: a read, add and
write of the set's NAV row at every member bar (about 12 GB through the cache for the default run) and the
w-scaled statistics of every trade. Timings on a shared machine vary by several percent from run to run: use
`--repeats` 5 or more before reading a ratio near the target.

Run: .venv/bin/python benchmarks/portfolio_sweep.py [--instruments 20] [--bars 43800] [--repeats 5]
     [--threads N] [--sizing fixed|ivol]
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
from auraquant.cta.backtest.portfolio import Sizing, fixed_rounds, pack, run_portfolio_sweep
from auraquant.cta.backtest.prepare import prepare
from auraquant.cta.data.synthetic import generate_correlated
from auraquant.cta.universe.align import align


def _alternate(fns: list, repeats: int) -> list[float]:
    """Best wall seconds of each function, the functions alternating within every repeat."""
    best = [float("inf")] * len(fns)
    for _ in range(repeats):
        for j, fn in enumerate(fns):
            t0 = time.perf_counter()
            fn()
            best[j] = min(best[j], time.perf_counter() - t0)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--instruments", type=int, default=20)
    ap.add_argument("--bars", type=int, default=43_800)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=numba.get_num_threads())
    ap.add_argument("--sizing", choices=("fixed", "ivol"), default="fixed")
    args = ap.parse_args()
    threads = args.threads
    numba.set_num_threads(threads)
    frames = generate_correlated(args.instruments, args.bars, seed=2024, correlation=0.3)
    au = align(frames)
    spec = _spec()
    grid = _grid()
    sizing = Sizing() if args.sizing == "fixed" else Sizing(rule="inverse_vol", rebalance="day", gross_cap=1.5)
    one = au.bars[0]
    print(f"SYNTHETIC data: {args.instruments} instruments x {args.bars} bars, {len(grid)} parameter sets, "
          f"sizing={args.sizing}, threads={threads} (both sides) cpus={os.cpu_count()}")

    run_sweep(one, spec, grid[:2], threads=threads)  # compile / load cached kernels
    run_portfolio_sweep(au, spec, grid[:2], sizing, threads=threads)

    preps = [prepare(b, spec, grid, workers=threads) for b in au.bars]
    pkd = pack(au, spec, sizing, grid, workers=threads)

    def single_kernel(bars_list, prep_list) -> None:
        with numba.parallel_chunksize(_SWEEP_CHUNK):  # as `engine.sweep_matrix`
            for b, p in zip(bars_list, prep_list, strict=True):
                kernel.sweep(b.open, b.high, b.low, b.close, p.day_id, p.n_days, p.sig_pool, p.allow_pool,
                             p.series_pool, p.iparams, p.fparams, p.fill_mode, p.policy, p.sides, p.comm, p.slip,
                             p.initial, p.basis)

    def port_kernel() -> None:
        if sizing.dynamic:  # as `portfolio.sweep_matrices`
            with numba.parallel_chunksize(max(1, _SWEEP_CHUNK // max(1, au.n // 4))):
                portfolio_kernel.sweep(*pkd.args)
        else:
            with numba.parallel_chunksize(1):
                portfolio_kernel.sweep_fixed(*pkd.fixed_args, *fixed_rounds(len(au), threads))

    every_e2e, port_e2e = _alternate([lambda: [run_sweep(b, spec, grid, threads=threads) for b in au.bars],
                                      lambda: run_portfolio_sweep(au, spec, grid, sizing, threads=threads)],
                                     args.repeats)
    every_k, port_k = _alternate([lambda: single_kernel(list(au.bars), preps), port_kernel], args.repeats)
    single_e2e, single_k = _alternate([lambda: run_sweep(one, spec, grid, threads=threads),
                                       lambda: single_kernel([one], preps[:1])], args.repeats)
    evals_1 = len(grid) * len(one)
    evals_p = len(grid) * sum(len(b) for b in au.bars)
    rows = [(f"single-instrument sweeps, {args.instruments} instr.", evals_p, every_e2e, every_k),
            (f"portfolio sweep, {args.instruments} instr.", evals_p, port_e2e, port_k),
            ("(reference) single sweep, 1 instr.", evals_1, single_e2e, single_k)]
    print(f"{'':38s} {'bar-evals':>14s} {'e2e s':>8s} {'e2e evals/s':>14s} {'kernel s':>9s} {'kernel evals/s':>15s}")
    for name, ev, te, tk in rows:
        print(f"{name:38s} {ev:14,d} {te:8.3f} {ev / te:14,.0f} {tk:9.3f} {ev / tk:15,.0f}")
    r_e2e = (evals_p / every_e2e) / (evals_p / port_e2e)
    r_k = (evals_p / every_k) / (evals_p / port_k)
    verdict = "OK" if max(r_e2e, r_k) <= 1.5 else "OVER"
    print(f"portfolio slowdown vs single-instrument sweeps (same bar-evaluations, {threads} threads each): "
          f"end to end {r_e2e:.2f}x, kernel {r_k:.2f}x (target <= 1.5x): {verdict}")


if __name__ == "__main__":
    main()
