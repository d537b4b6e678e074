"""A fixed corpus of random specs run through the compiled kernel, reduced to SHA-256 digests (test-only).

The digests of the corpus were computed from the kernel before its split into step functions and are
kept in `tests/unit/backtest/data/kernel_golden.json`; `test_kernel_golden` recomputes them, so any
change of behaviour (a metric, an equity mark, a trade, a filter or risk code, one bit of a float) fails.

Regenerate only when the kernel's semantics change on purpose:
    PYTHONPATH=$PWD .venv/bin/python -m tests.support.kernel_golden
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from auraquant.cta.backtest import kernel
from auraquant.cta.backtest.prepare import prepare
from auraquant.cta.strategy.bars import bars_from_frame
from auraquant.cta.strategy.spec import flat_params
from tests.support.random_specs import random_bars, random_spec

GOLDEN = Path(__file__).resolve().parents[1] / "unit" / "backtest" / "data" / "kernel_golden.json"
N_SINGLE = 160
N_SWEEP = 40
SETS_PER_SWEEP = 6


def _canon(a: np.ndarray) -> bytes:
    """Bytes of `a` as float64 with every NaN the same NaN (the payload/sign of a NaN is not behaviour)."""
    x = np.ascontiguousarray(a, dtype=np.float64)
    return np.where(np.isnan(x), np.nan, x).tobytes()


def _digest(*arrays: np.ndarray) -> str:
    h = hashlib.sha256()
    for a in arrays:
        h.update(str(np.shape(a)).encode())
        h.update(_canon(a))
    return h.hexdigest()


def single_digest(seed: int) -> str:
    """One random spec on random bars through `kernel.simulate` with artifacts: every output hashed."""
    rng = np.random.default_rng(seed)
    bars = bars_from_frame(random_bars(rng, int(rng.integers(150, 900))))
    spec = random_spec(rng)
    prep = prepare(bars, spec)
    rec = kernel.simulate(*prep.kernel_args(0), True)
    plain = kernel.simulate(*prep.kernel_args(0), False)[0]
    return _digest(*rec, plain)


def sweep_param_sets(seed: int) -> tuple[object, object, list[dict[str, float | int]]]:
    """(bars, spec, parameter sets): the spec's own float params scaled by seeded factors in [0.7, 1.3]."""
    rng = np.random.default_rng(10_000 + seed)
    bars = bars_from_frame(random_bars(rng, int(rng.integers(300, 1200))))
    spec = random_spec(rng)
    flat = flat_params(spec)
    sets = []
    for _ in range(SETS_PER_SWEEP):
        sets.append({k: (v * float(rng.uniform(0.7, 1.3)) if isinstance(v, float) else v) for k, v in flat.items()})
    return bars, spec, sets


def sweep_digest(seed: int) -> str:
    """A seeded multi-set sweep through `kernel.sweep` (the metrics-only, parallel path): its matrix hashed."""
    bars, spec, sets = sweep_param_sets(seed)
    prep = prepare(bars, spec, sets)
    mat = kernel.sweep(bars.open, bars.high, bars.low, bars.close, prep.day_id, prep.n_days, prep.sig_pool,
                       prep.allow_pool, prep.series_pool, prep.iparams, prep.fparams, prep.fill_mode, prep.policy,
                       prep.sides, prep.comm, prep.slip, prep.initial, prep.basis)
    return _digest(mat)


def corpus_digests() -> dict[str, str]:
    """`single:<seed>` and `sweep:<seed>` -> digest for the whole corpus."""
    out = {f"single:{s}": single_digest(s) for s in range(N_SINGLE)}
    out.update({f"sweep:{s}": sweep_digest(s) for s in range(N_SWEEP)})
    return out


if __name__ == "__main__":
    GOLDEN.write_text(json.dumps(corpus_digests(), indent=1, sort_keys=True) + "\n")
    print(f"wrote {GOLDEN}")
