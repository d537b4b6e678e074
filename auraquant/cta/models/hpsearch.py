"""Optuna search of a model's hyperparameters on validation (seeded, small budget, sequential).

Trial 0 is always the base config (the Spec's own values), so the search can only improve on it. Each
trial trains a model with the same training seed on the same purged training rows and is scored by
its validation log loss (lower is better; ties: the earlier trial). The sampler is a TPESampler seeded
with `seed`, on an in-memory study: the same data, base config and seed give the same trials.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from auraquant.cta.models.config import ModelConfig
from auraquant.cta.models.training import TrainedModel, train_model


@dataclass
class HPTrial:
    number: int
    config: ModelConfig
    model: TrainedModel
    score: float  # validation log loss (inf when undefined)

    def summary(self) -> dict[str, Any]:
        return {"number": self.number, "config_id": self.config.config_id(),
                "changes": _changes(self.config), "val_logloss": _finite(self.score),
                "val_accuracy": _finite(self.model.metrics.get("val_accuracy", math.nan)),
                "weights_sha256": self.model.weights_sha256}


def _finite(v: float) -> float | None:
    return float(v) if math.isfinite(v) else None


def _changes(cfg: ModelConfig) -> dict[str, Any]:
    keys = ("hidden", "learning_rate", "weight_decay") if cfg.kind != "lightgbm" else (
        "num_leaves", "boost_learning_rate", "min_child_samples")
    return {k: getattr(cfg, k) for k in keys}


def _suggest(trial: Any, base: ModelConfig) -> dict[str, Any]:
    if base.kind == "lightgbm":
        return {"num_leaves": trial.suggest_categorical("num_leaves", sorted({7, 15, 31, base.num_leaves})),
                "boost_learning_rate": trial.suggest_float("boost_learning_rate", 0.01, 0.3, log=True),
                "min_child_samples": trial.suggest_categorical("min_child_samples",
                                                               sorted({10, 20, 50, base.min_child_samples}))}
    h = base.hidden
    widths = sorted({max(base.heads, h // 2 // base.heads * base.heads) if base.kind == "transformer"
                     else max(1, h // 2), h, 2 * h})
    return {"hidden": trial.suggest_categorical("hidden", widths),
            "learning_rate": trial.suggest_float("learning_rate", 1e-3, 3e-2, log=True),
            "weight_decay": trial.suggest_categorical("weight_decay", [0.0, 1e-4])}


def _base_values(base: ModelConfig) -> dict[str, Any]:
    if base.kind == "lightgbm":
        return {"num_leaves": base.num_leaves, "boost_learning_rate": min(max(base.boost_learning_rate, 0.01), 0.3),
                "min_child_samples": base.min_child_samples}
    return {"hidden": base.hidden, "learning_rate": min(max(base.learning_rate, 1e-3), 3e-2),
            "weight_decay": base.weight_decay if base.weight_decay in (0.0, 1e-4) else 0.0}


def base_config(base: ModelConfig) -> ModelConfig:
    """Trial 0's config: `base` with its searched values clamped into the search space."""
    return base.model_copy(update=_base_values(base))


def search_hyperparameters(base: ModelConfig, X_train: np.ndarray, y_train: np.ndarray, X_val: np.ndarray,
                           y_val: np.ndarray, *, n_trials: int, seed: int) -> tuple[list[HPTrial], int]:
    """(every trial in order, index of the best one). See the module docstring."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="minimize", storage=optuna.storages.InMemoryStorage(),
                                sampler=optuna.samplers.TPESampler(seed=seed, n_startup_trials=2))
    study.enqueue_trial(_base_values(base))
    out: list[HPTrial] = []
    for number in range(max(1, n_trials)):
        trial = study.ask()
        cfg = base.model_copy(update=_suggest(trial, base))
        model = train_model(cfg, X_train, y_train, X_val, y_val, seed=seed)
        score = model.metrics["val_logloss"]
        score = score if math.isfinite(score) else math.inf
        study.tell(trial, score if math.isfinite(score) else 1e9)
        out.append(HPTrial(number=number, config=cfg, model=model, score=score))
    best = min(range(len(out)), key=lambda i: (out[i].score, i))
    return out, best
