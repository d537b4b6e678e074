"""The one behaviour every learned baseline shares (`cta_runtime/baselines/model_*.py`).

Part of the strategy SDK an agent module may import (`codeguard.ALLOWED_MODULES`), so it depends on nothing
but `Param` and numpy: the predictor registry (`auraquant.cta.strategy.learned`) stays out of an agent's
reach, and a module reads fitted probabilities only through `bars.learned_probability(key)`.
"""

from __future__ import annotations

import numpy as np

from auraquant.cta.strategy.bars import Bars
from auraquant.cta.strategy.protocols import Param


class LearnedBaseline:
    """The one behaviour of every learned baseline (`cta_runtime/baselines/model_*.py`, which differ only in
    `name`, the model kind it names): +1 where P(up over the next `horizon` bars) > `threshold`, -1 where it
    is < 1 - `threshold`, else 0. With `model_key` 0 (not fitted, e.g. a single backtest) no candidates.
    Every other param but `threshold` shapes the training, which happens per walk-forward window
    (`auraquant.cta.models.window`)."""

    name = "model"
    params = dict(threshold=Param(0.55, "float", 0.5, 1.0, "P(up) above which long; below 1 - it, short"),
                  horizon=Param(4, "int", 1, 1000, "label horizon in bars (also purge and embargo length)"),
                  label=Param(0, "int", 0, 1, "0 sign of the horizon return, 1 triple barrier"),
                  lookback=Param(16, "int", 1, 512, "feature rows per sample"),
                  hidden=Param(16, "int", 1, 1024, "hidden width"),
                  layers=Param(1, "int", 1, 8, "layers (N-BEATS: blocks)"),
                  epochs=Param(4, "int", 1, 1000, "training epochs"),
                  hp_trials=Param(4, "int", 1, 100, "Optuna hyperparameter trials per window (on validation)"),
                  device=Param(0, "int", 0, 1, "0 CPU (bit-identical), 1 auto (CUDA when present)"),
                  features=Param(0, "int", 0, 2**48, "feature set key (0 = default; feature_set_put)"),
                  model_key=Param(0, "int", 0, 2**48, "fitted model key, set per window (0 = not fitted)"))

    def candidates(self, bars: Bars, params: dict) -> np.ndarray:
        out = np.zeros(len(bars), dtype=np.int8)
        key = int(params["model_key"])
        if key == 0:
            return out
        p = bars.learned_probability(key)
        thr = float(params["threshold"])
        out[p > thr] = 1
        out[p < 1.0 - thr] = -1
        return out

