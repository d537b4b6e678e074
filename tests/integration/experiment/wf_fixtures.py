"""Shared settings of the walk-forward integration tests: a small run over synthetic bars."""

from __future__ import annotations

from auraquant.cta.experiment.config import SearchConfig, WalkForwardConfig
from auraquant.cta.strategy.spec import Spec
from tests.support.specs import ema_chandelier_spec

WF = WalkForwardConfig(train_bars=1500, validation_bars=400, target_bars=500, embargo_bars=10, n_windows=4)
SEARCH = SearchConfig(n_trials=20, batch_size=10, n_startup_trials=5, top_k=4)
HOLDOUT = 800
N_BARS = 5000


def ema_atr_spec() -> Spec:
    return ema_chandelier_spec("ema_atr_it")


