"""PBO via CSCV (noise ~0.5, real edge ~0) and SPA / Reality Check equal to arch's on the same input."""

from __future__ import annotations

import numpy as np
import pytest
from arch.bootstrap import SPA

from auraquant.cta.experiment.pbo import n_combinations, pbo_cscv
from auraquant.cta.experiment.spa import snooping_test


def test_pbo_of_pure_noise_is_about_one_half() -> None:
    pbos = []
    for seed in range(8):
        r = np.random.default_rng(seed).normal(0, 0.01, size=(1600, 30))
        res = pbo_cscv(r, n_splits=10)
        assert res.n_combinations == n_combinations(10) == 252
        pbos.append(res.pbo)
    assert np.mean(pbos) == pytest.approx(0.5, abs=0.1)


def test_pbo_near_zero_when_one_strategy_has_a_real_edge() -> None:
    rng = np.random.default_rng(1)
    r = rng.normal(0, 0.01, size=(1600, 30))
    r[:, 7] += 0.004  # Sharpe 0.4 per period: dominates on every half of the data
    res = pbo_cscv(r, n_splits=16)
    assert res.pbo < 0.02
    assert res.prob_oos_loss == 0.0


def test_pbo_is_high_when_in_sample_skill_reverses_out_of_sample() -> None:
    # Each trial is good on one block and bad on the others: the IS winner is systematically poor OOS.
    rng = np.random.default_rng(2)
    s, block, n = 8, 100, 8
    r = rng.normal(0, 0.01, size=(s * block, n))
    for j in range(n):
        r[:, j] -= 0.002
        r[j * block:(j + 1) * block, j] += 0.02
    assert pbo_cscv(r, n_splits=s).pbo > 0.9


def test_pbo_rejects_bad_input() -> None:
    with pytest.raises(ValueError):
        pbo_cscv(np.zeros((100, 1)))
    with pytest.raises(ValueError):
        pbo_cscv(np.zeros((100, 3)), n_splits=5)


def test_spa_pvalues_equal_arch_on_same_input() -> None:
    rng = np.random.default_rng(4)
    t, k = 500, 6
    r = rng.normal(0.0, 0.01, size=(t, k))
    r[:, 2] += 0.0015
    bench = rng.normal(0.0, 0.005, size=t)
    ours = snooping_test(r, bench, reps=300, seed=11, block_size=12)
    spa = SPA(-bench, -r, block_size=12, reps=300, seed=11, studentize=True)
    spa.compute()
    rc = SPA(-bench, -r, block_size=12, reps=300, seed=11, studentize=False)
    rc.compute()
    assert ours.spa_lower == spa.pvalues["lower"]
    assert ours.spa_consistent == spa.pvalues["consistent"]
    assert ours.spa_upper == spa.pvalues["upper"]
    assert ours.reality_check == rc.pvalues["upper"]


def test_spa_detects_edge_and_not_noise() -> None:
    rng = np.random.default_rng(5)
    noise = rng.normal(0, 0.01, size=(800, 10))
    assert snooping_test(noise, reps=300, seed=1).spa_consistent > 0.1
    edge = noise.copy()
    edge[:, 0] += 0.003
    res = snooping_test(edge, reps=300, seed=1)
    assert res.spa_consistent < 0.01 and res.reality_check < 0.05
