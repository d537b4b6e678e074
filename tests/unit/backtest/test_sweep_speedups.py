"""The sweep's shortcuts change no number: partial-sort tail statistics, threaded module preparation and
dynamic scheduling give exactly what the straightforward computation gives (the kernel's fast paths are
checked against the pure-Python reference by test_kernel_parity)."""

from __future__ import annotations

import numba
import numpy as np
import pytest

from auraquant.cta.backtest import kernel
from auraquant.cta.backtest.engine import run_sweep
from auraquant.cta.backtest.prepare import prepare
from auraquant.cta.strategy.bars import bars_from_frame
from auraquant.cta.strategy.spec import Spec
from tests.support.random_specs import random_bars


def _full_sort_tail(x: np.ndarray, q: float) -> tuple[float, float, int]:
    """The definition: linear-interpolated quantile of the sorted values, then the sorted values <= it."""
    srt = np.sort(x)
    pos = q * (len(srt) - 1)
    lo = int(np.floor(pos))
    hi = min(lo + 1, len(srt) - 1)
    with np.errstate(invalid="ignore"):
        var = srt[lo] + (srt[hi] - srt[lo]) * (pos - lo)
    cs, cn = 0.0, 0
    for v in srt:
        if v <= var:
            cs += v
            cn += 1
    return var, cs, cn


def _cases() -> list[np.ndarray]:
    rng = np.random.default_rng(7)
    flat_days = np.where(rng.random(1831) < 0.6, 0.0, rng.normal(0, 0.02, 1831))  # many exact ties at 0
    ties_at_q = np.concatenate([np.full(40, -0.01), rng.normal(0.01, 0.001, 200)])
    with_nan = rng.normal(0, 0.02, 300)
    with_nan[17] = np.nan
    few_losses = np.concatenate([np.abs(rng.normal(0, 0.02, 500)), [-0.01, -0.03, -0.01]])  # < 5% negative
    return [rng.normal(0, 0.02, 1831), flat_days, few_losses, ties_at_q, rng.permutation(ties_at_q), with_nan,
            np.array([0.01]), np.array([0.02, -0.01]), np.array([-np.inf, 0.0, 0.1, 0.1, -0.2])]


@pytest.mark.parametrize("k", range(9))
def test_lower_tail_equals_the_full_sort_bit_for_bit(k: int) -> None:
    x = _cases()[k]
    got = kernel._lower_tail(x.copy(), x.shape[0], 0.05)
    want = _full_sort_tail(x, 0.05)
    assert np.array_equal(np.array(got[:2]), np.array(want[:2]), equal_nan=True) and got[2] == want[2], (got, want)


SPEC = Spec(baseline={"name": "ema_cross"}, execution={"name": "trailing_pct"},
            risk={"name": "fixed_fraction", "params": {"fraction": 0.9}},
            engine={"commission_bps": 10.0, "sides": "long"})
GRID = [{"baseline.fast": f, "baseline.slow": s, "execution.trailing_pct.pct": p}
        for f in (3, 5, 8) for s in (13, 21) for p in (0.01, 0.04)]


def test_threaded_prepare_equals_sequential() -> None:
    bars = bars_from_frame(random_bars(np.random.default_rng(3), 1500))
    one = prepare(bars, SPEC, GRID, workers=1)
    two = prepare(bars, SPEC, GRID, workers=2)
    assert one.sig_pool.shape == (1 + 6, 1500)  # the neutral row + one per distinct (fast, slow)
    for name in ("sig_pool", "allow_pool", "series_pool", "iparams", "fparams"):
        assert np.array_equal(getattr(one, name), getattr(two, name), equal_nan=True), name


def test_sweep_scheduling_does_not_change_results() -> None:
    bars = bars_from_frame(random_bars(np.random.default_rng(5), 3000))
    prep = prepare(bars, SPEC, GRID)
    args = (bars.open, bars.high, bars.low, bars.close, prep.day_id, prep.n_days, prep.sig_pool, prep.allow_pool,
            prep.series_pool, prep.iparams, prep.fparams, prep.fill_mode, prep.policy, prep.sides, prep.comm,
            prep.slip, prep.initial, prep.basis)
    prev = numba.get_num_threads()
    outs = []
    try:
        for threads, chunk in ((1, 0), (2, 0), (2, 1), (2, 5)):
            numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
            with numba.parallel_chunksize(chunk):
                outs.append(kernel.sweep(*args))
    finally:
        numba.set_num_threads(prev)
    assert all(o.tobytes() == outs[0].tobytes() for o in outs)
    # ... and each row is the single-set kernel's metric vector.
    for k in (0, 5, 11):
        single = kernel.simulate(*prep.kernel_args(k), False)[0]
        assert single.tobytes() == outs[0][k].tobytes()
    assert run_sweep(bars, SPEC, GRID, threads=2).to_numpy(float).tobytes() == run_sweep(
        bars, SPEC, GRID, threads=1).to_numpy(float).tobytes()


def test_sets_with_different_path_lists_prepare_as_each_alone() -> None:
    """Sets naming different paths, in different orders (several plans), some overriding a filter: each
    set's candidates, allow mask and slots equal those of preparing that set on its own."""
    bars = bars_from_frame(random_bars(np.random.default_rng(9), 800))
    spec = Spec(baseline={"name": "ema_cross"}, filters=[{"name": "atr_regime", "params": {"period": 10}}],
                execution=[{"name": "trailing_pct"}, {"name": "time_stop"}],
                risk={"name": "fixed_fraction", "params": {"fraction": 0.5}})
    sets = [{"baseline.fast": 3, "execution.trailing_pct.pct": 0.02},
            {"execution.trailing_pct.pct": 0.02, "baseline.fast": 3},
            {"baseline.slow": 30},
            {"filters.atr_regime.period": 5, "execution.time_stop.bars": 7, "baseline.fast": 4},
            {},
            {"baseline.fast": 3, "baseline.slow": 26, "execution.trailing_pct.pct": 0.03}]
    together = prepare(bars, spec, sets)
    for k, flat in enumerate(sets):
        alone = prepare(bars, spec, [flat] if flat else None)
        ip, ia = together.iparams[k], alone.iparams[0]
        assert np.array_equal(together.sig_pool[ip[0]], alone.sig_pool[ia[0]]), k
        assert np.array_equal(together.allow_pool[ip[1]], alone.allow_pool[ia[1]]), k
        assert np.array_equal(together.fparams[k], alone.fparams[0], equal_nan=True), k
    assert together.sig_pool.shape[0] == 1 + 4  # (3, 26) is the default slow: the same as set 0's
