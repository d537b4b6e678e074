"""Learned baseline (N-BEATS): +1 where the model's P(up over the next `horizon` bars) > threshold, -1
where it is < 1 - threshold, else 0 (state-style).

The model is fitted per walk-forward window on that window's train segment only (purged, embargoed,
hyperparameters searched on validation; `auraquant.cta.models.window`), which sets `model_key`.
With `model_key` 0 (not fitted, e.g. a single backtest) it gives no candidates. Every other param
but `threshold` shapes the training: label horizon and kind (0 sign, 1 triple barrier), lookback
window, network size, epochs, Optuna trials, device and the feature set (0 = the default set).
"""

from auraquant.cta.strategy.learned import LearnedBaseline


class ModelNbeats(LearnedBaseline):
    name = "model_nbeats"


MODULE = ModelNbeats()
