"""Shared settings of the walk-forward integration tests: a small run over synthetic bars."""

from __future__ import annotations

from auraquant.cta.experiment.config import SearchConfig, WalkForwardConfig
from auraquant.cta.strategy.spec import Spec

WF = WalkForwardConfig(train_bars=1500, validation_bars=400, target_bars=500, embargo_bars=10, n_windows=4)
SEARCH = SearchConfig(n_trials=20, batch_size=10, n_startup_trials=5, top_k=4)
HOLDOUT = 800
N_BARS = 5000


def ema_atr_spec() -> Spec:
    return Spec.model_validate({
        "name": "ema_atr_it",
        "baseline": {"name": "ema_cross", "params": {"fast": 12, "slow": 26}},
        "execution": [{"name": "chandelier", "params": {"period": 22, "mult": 3.0}}],
        "search_space": {"baseline.fast": {"kind": "int", "low": 3, "high": 30},
                         "baseline.slow": {"kind": "int", "low": 20, "high": 120},
                         "execution.chandelier.mult": {"kind": "float", "low": 1.0, "high": 5.0}},
        "engine": {"commission_bps": 5, "slippage_bps": 2}})


