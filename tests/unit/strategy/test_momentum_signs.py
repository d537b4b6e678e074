"""`momentum_signs` (one pass, no temporaries) equals the array expression ts_momentum used before."""

from __future__ import annotations

import numpy as np
import pytest

from auraquant.cta.strategy.indicators import momentum_signs


def _expression(c: np.ndarray, lb: int, thr: float) -> np.ndarray:
    out = np.zeros(c.shape[0], dtype=np.int8)
    if c.shape[0] > lb:
        mom = c[lb:] / c[:-lb] - 1.0
        out[lb:][mom > thr] = 1
        out[lb:][mom < -thr] = -1
    return out


@pytest.mark.parametrize("seed", range(6))
def test_equals_the_array_expression(seed: int) -> None:
    rng = np.random.default_rng(seed)
    for _ in range(40):
        n = int(rng.integers(1, 2_000))
        c = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
        if rng.random() < 0.3:
            c[rng.integers(0, n, 4)] = np.nan
        lb, thr = int(rng.integers(1, 300)), float(rng.choice([0.0, rng.uniform(0, 0.03)]))
        got = momentum_signs(c, lb, thr)
        assert got.dtype == np.int8 and np.array_equal(got, _expression(c, lb, thr)), (n, lb, thr)


def test_causal_and_warm_up() -> None:
    c = np.array([100.0, 101.0, 99.0, 99.0, 120.0])
    np.testing.assert_array_equal(momentum_signs(c, 2, 0.005), [0, 0, -1, -1, 1])
    np.testing.assert_array_equal(momentum_signs(c, 2, 0.0)[:2], [0, 0])
    np.testing.assert_array_equal(momentum_signs(c[:4], 2, 0.005), momentum_signs(c, 2, 0.005)[:4])
