"""The walk-forward DSR deflates by the true number of trials (every trial of every window), not by one.

Mutation guard: computing the out-of-sample DSR with `n_trials=1` (or the trials of one window) leaves every
other number of the run unchanged; these tests recompute the DSR from the run's artifacts and pin the count.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from auraquant.cta.experiment.deflated import deflate
from auraquant.cta.experiment.models import RESULT_KIND, RunResult
from auraquant.cta.experiment.runner import load_result, run_experiment, run_from_store
from tests.integration.experiment.wf_fixtures import HOLDOUT, SEARCH, WF, ema_atr_spec


def _dsr(res: RunResult, trials: pd.DataFrame, equity: pd.DataFrame, n_trials: int) -> float:
    """The OOS DSR recomputed from the artifacts: the stitched curve's UTC-daily Sharpe, deflated over the
    daily Sharpe ratios of the trials (variance ddof=1), with `n_trials` as the number of trials."""
    days = equity.groupby(equity["time"].dt.floor("D"), sort=True)["equity"].last().to_numpy()
    n_obs = len(days)
    sr = (trials["daily_mean"] / trials["daily_std"]).to_numpy(dtype=float)
    var = float(sr[np.isfinite(sr)].var(ddof=1))
    o = res.oos
    assert o.daily_std and o.skew is not None and o.kurtosis is not None
    return deflate(o.daily_mean / o.daily_std, n_trials, var, n_obs, o.skew, o.kurtosis).dsr


def test_walkforward_dsr_uses_every_trial_of_every_window(synth_ws) -> None:
    ws, dv = synth_ws
    run, bars = run_from_store(ws, ema_atr_spec(), dv, WF, SEARCH, seed=5, holdout_bars=HOLDOUT)
    res = run_experiment(ws, run, bars, executor="threads:1", robustness=None).result
    adir = res.artifacts
    trials = pd.read_parquet(f"{adir}/trials.parquet")
    equity = pd.read_parquet(f"{adir}/oos_equity.parquet")
    true_n = WF.n_windows * SEARCH.n_trials
    assert len(trials) == res.total_trials == true_n

    assert res.oos.dsr is not None and res.oos.dsr_n_trials == true_n
    assert res.oos.dsr == pytest.approx(_dsr(res, trials, equity, true_n), rel=1e-9, abs=1e-12)
    # The test can tell the counts apart: with one trial (or one window's trials) the DSR differs, and it is
    # larger, since fewer trials mean a lower expected maximum Sharpe to beat. (Relative margin: a strongly
    # negative OOS Sharpe puts every DSR near 0, where an absolute margin says nothing about the count.)
    for wrong in (1, SEARCH.n_trials):
        other = _dsr(res, trials, equity, wrong)
        assert other > res.oos.dsr * 1.01 and other - res.oos.dsr > 1e-12, (wrong, other, res.oos.dsr)

    # The record in the store and result.json carry the same DSR and count.
    stored = ws.store.get_object(RESULT_KIND, run.id, RunResult)
    assert stored == load_result(ws, run.id)
    assert (stored.oos.dsr, stored.oos.dsr_n_trials) == (res.oos.dsr, true_n)
    doc = json.loads(open(f"{adir}/result.json").read())
    assert (doc["oos"]["dsr"], doc["oos"]["dsr_n_trials"]) == (res.oos.dsr, true_n)
