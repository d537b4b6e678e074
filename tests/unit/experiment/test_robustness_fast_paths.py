"""The robustness inputs computed in bulk equal their one-at-a-time definitions bit for bit: the trial return
matrix (one equity sweep) against a recorded `run_backtest` per trial, and PBO's ranks against scipy's."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
from scipy import stats

from auraquant.cta.backtest.engine import run_backtest, sweep_equity
from auraquant.cta.experiment.pbo import _sharpe_from_sums, pbo_cscv
from auraquant.cta.experiment.robustness import trial_return_matrix
from auraquant.cta.experiment.stitch import daily_returns
from auraquant.cta.strategy.spec import apply_params


def _trials(spec) -> pd.DataFrame:
    sets = [{"baseline.fast": f, "baseline.slow": s, "execution.chandelier.mult": m}
            for f, s, m in [(5, 30, 2.0), (12, 60, 3.5), (12, 60, 3.5), (20, 90, 1.5), (8, 40, 5.0)]]
    t = pd.DataFrame(sets)
    return t.assign(batch=[0, 0, 0, 1, 1], slot=[0, 1, 2, 0, 1], score=[0.5, 1.2, 1.2, -0.3, 0.9],
                    feasible=True)


def test_trial_return_matrix_equals_recorded_backtests(synth_bars, spec) -> None:
    train = synth_bars.iloc[:1500].reset_index(drop=True)
    trials = _trials(spec)
    names = list(spec.search_space)
    for threads in (1, 2):
        mat = trial_return_matrix(train, spec, trials, None, threads=threads)
        assert list(mat.columns) == ["b0s1", "b1s1", "b0s0", "b1s0"]  # ranked, the repeated set once
        for col, row in zip(mat.columns, [1, 4, 0, 3], strict=True):
            params = {p: trials.loc[row, p].item() for p in names}
            res = run_backtest(train, apply_params(spec, params), record=True)
            want = daily_returns(res.equity, spec.engine.initial_capital)
            pd.testing.assert_series_equal(mat[col], want, check_names=False, check_exact=True)
            assert mat.index.equals(want.index) and mat.index.name == "time"
    navs = sweep_equity(train, spec, [{p: trials.loc[0, p].item() for p in names}], threads=1)
    np.testing.assert_array_equal(navs[0], run_backtest(train, apply_params(spec, {
        p: trials.loc[0, p].item() for p in names})).equity["equity"].to_numpy())


def test_pbo_ranks_equal_scipy_average_ranks_with_ties() -> None:
    rng = np.random.default_rng(3)
    r = rng.normal(0, 0.01, (200, 12))
    r[:, 4] = r[:, 5]  # identical trials tie in every combination
    r[:, 7] = 0.0      # a flat trial scores 0 everywhere
    res = pbo_cscv(r, n_splits=8)
    blocks = r.reshape(8, 25, 12)
    sums, sqs = blocks.sum(axis=1), (blocks ** 2).sum(axis=1)
    combos = np.array(list(itertools.combinations(range(8), 4)))
    mask = np.zeros((len(combos), 8))
    np.put_along_axis(mask, combos, 1.0, axis=1)
    is_sr = _sharpe_from_sums(mask @ sums, mask @ sqs, 100)
    oos = _sharpe_from_sums((1 - mask) @ sums, (1 - mask) @ sqs, 100)
    best = np.argmax(is_sr, axis=1)
    ranks = stats.rankdata(oos, axis=1)[np.arange(len(combos)), best]
    w = ranks / 13
    np.testing.assert_array_equal(res.logits, np.log(w / (1 - w)))
