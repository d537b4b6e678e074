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
