"""A sweep prepared and run in memory-bounded chunks gives the very rows of one unchunked sweep."""

from __future__ import annotations

import os

import numpy as np
import pytest

from auraquant.cta.backtest import engine, kernel
from auraquant.cta.backtest.prepare import prepare
from auraquant.cta.strategy.bars import bars_from_frame
from auraquant.cta.strategy.spec import Spec
from tests.support.random_specs import random_bars

SPEC = Spec(baseline={"name": "ts_momentum", "params": {"lookback": 12, "threshold": 0.0}},
            execution=[{"name": "trailing_pct", "params": {"pct": 0.03}}],
            risk=[{"name": "vol_target", "params": {"target_vol": 0.5, "lookback": 10}}],
            engine={"commission_bps": 5, "slippage_bps": 2})


def _sets(n: int) -> list[dict[str, float | int]]:
    rng = np.random.default_rng(4)
    return [{"baseline.lookback": int(rng.integers(2, 40)), "baseline.threshold": float(rng.uniform(0, 0.01)),
             "execution.trailing_pct.pct": float(rng.uniform(0.01, 0.08)),
             "risk.vol_target.lookback": int(rng.integers(5, 30))} for _ in range(n)]


def test_chunk_size_bounds_memory_but_feeds_every_thread() -> None:
    assert engine.sweep_chunk_sets(10_000_000, 2) == 2 * engine._SWEEP_CHUNK
    assert engine.sweep_chunk_sets(1_000, 2) == engine._POOL_BYTES // (1_000 * engine._POOL_BYTES_PER_BAR)
    assert engine.sweep_chunk_sets(50_000, 1) * 50_000 * engine._POOL_BYTES_PER_BAR <= engine._POOL_BYTES
    assert engine.sweep_chunk_sets(0, 0) >= engine._SWEEP_CHUNK


@pytest.mark.parametrize("threads", [1, 2])
def test_chunked_rows_equal_one_unchunked_sweep(monkeypatch: pytest.MonkeyPatch, threads: int) -> None:
    bars = bars_from_frame(random_bars(np.random.default_rng(8), 600))
    sets = _sets(70)
    prep = prepare(bars, SPEC, sets)
    whole = kernel.sweep(bars.open, bars.high, bars.low, bars.close, prep.day_id, prep.n_days, prep.sig_pool,
                         prep.allow_pool, prep.series_pool, prep.iparams, prep.fparams, prep.fill_mode, prep.policy,
                         prep.sides, prep.comm, prep.slip, prep.initial, prep.basis)
    monkeypatch.setattr(engine, "_POOL_BYTES", 1)  # the smallest chunks: _SWEEP_CHUNK sets per thread
    calls = []
    real = engine.prepare
    monkeypatch.setattr(engine, "prepare", lambda *a, **k: calls.append(len(a[2])) or real(*a, **k))
    chunked = engine.sweep_matrix(bars, SPEC, sets, threads=threads)
    assert calls == [engine._SWEEP_CHUNK * threads] * (70 // (engine._SWEEP_CHUNK * threads)) + (
        [70 % (engine._SWEEP_CHUNK * threads)] if 70 % (engine._SWEEP_CHUNK * threads) else [])
    assert np.array_equal(chunked, whole, equal_nan=True)
    assert np.unique(chunked[:, 0]).size > 50  # the sets really differ


def test_openmp_spin_after_a_sweep_is_short() -> None:
    assert os.environ.get("GOMP_SPINCOUNT") is not None
