"""Predictors of learned baselines, by key: how a per-window fitted model reaches a baseline module.

A learned baseline (`cta_runtime/baselines/model_*.py`) is a plain baseline to the kernel: it thresholds
`bars.learned_probability(model_key)`. The model behind a key is fitted per walk-forward window on that
window's train segment only (`auraquant.cta.models.window`), then registered here, in the process that
evaluates the window, under a key derived from its content (weights, features, lookback), so the same
key always means the same predictor. A predictor maps bars to P(up) per bar, from closed bars only (NaN
during its warm-up).

This module depends on nothing but `Bars`, so the strategy layer does not depend on the model layer;
the model layer registers into it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import numpy as np

from auraquant.cta.strategy.bars import Bars
from auraquant.cta.strategy.protocols import Param

Predictor = Callable[[Bars], np.ndarray]

_predictors: dict[int, Predictor] = {}
_lock = threading.Lock()


class LearnedModelMissing(LookupError):
    """No predictor is registered under a model key in this process."""


def register(key: int, predictor: Predictor) -> None:
    """Make `predictor` available under `key` (idempotent: a key names one content)."""
    if key <= 0:
        raise ValueError("a model key is a positive integer")
    with _lock:
        _predictors[key] = predictor


def is_registered(key: int) -> bool:
    with _lock:
        return key in _predictors


def predict(key: int, bars: Bars) -> np.ndarray:
    """P(up) per bar of the predictor registered under `key` (float64, NaN during warm-up)."""
    with _lock:
        fn = _predictors.get(key)
    if fn is None:
        raise LearnedModelMissing(
            f"no fitted model with key {key} in this process: a learned baseline is fitted per walk-forward "
            "window (run it with experiment_run / `auraquant experiment run`)")
    out = np.asarray(fn(bars), dtype=np.float64)
    if out.shape != (len(bars),):
        raise ValueError(f"model {key} returned {out.shape} probabilities for {len(bars)} bars")
    return out


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

