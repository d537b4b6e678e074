"""The holdout is scored by an explicit call, on exactly the sealed bars, once."""

from __future__ import annotations

import pandas as pd
import pytest

from auraquant.cta.backtest.engine import run_backtest
from auraquant.cta.experiment.config import SearchConfig
from auraquant.cta.experiment.holdout import HoldoutAlreadyScored, holdout_metrics, score_holdout
from auraquant.cta.experiment.runner import run_experiment, run_from_store
from auraquant.cta.strategy.spec import apply_params
from tests.integration.experiment.wf_fixtures import HOLDOUT, N_BARS, WF, ema_atr_spec


def test_score_holdout_once(synth_ws) -> None:
    ws, dv = synth_ws
    search = SearchConfig(n_trials=10, batch_size=10, n_startup_trials=5, top_k=2)
    run, bars = run_from_store(ws, ema_atr_spec(), dv, WF, search, seed=1, holdout_bars=HOLDOUT)
    res = run_experiment(ws, run, bars, executor="threads:1", robustness=None).result
    assert res.robustness == {}
    score = score_holdout(ws, run.id)
    assert score.params == res.windows[-1].params and score.bars == HOLDOUT
    full = ws.store.load_bars(dv)
    hold = full.iloc[N_BARS - HOLDOUT:].reset_index(drop=True)
    assert pd.Timestamp(score.holdout_start) == hold["time"].iloc[0]
    expect = run_backtest(hold, apply_params(run.spec, score.params), record=False).report
    assert score.report["sharpe"] == expect.sharpe and score.report["total_return"] == expect.total_return
    m = holdout_metrics(score)
    assert m["total_return"] == expect.total_return and m["holdout_bars"] == HOLDOUT
    with pytest.raises(HoldoutAlreadyScored):
        score_holdout(ws, run.id)
