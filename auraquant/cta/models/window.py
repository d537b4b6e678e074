"""The per-window fit of a learned baseline (`model_*` in `cta_runtime/baselines`).

`run_window` (auraquant.cta.experiment.window) hands a window whose Spec has an unfitted learned
baseline (`model_key` 0) to `run_model_window`, which:

1. builds samples from each segment's own bars (features from closed bars, `features.py`; labels,
   `labels.py`): training samples from the train segment, purged against the evaluation window that
   follows it and embargoed by the label horizon (`labels.purge_mask`, checked with `assert_purged`);
   validation samples from the validation segment (without one, the last 20% of the train samples,
   with the earlier ones purged and embargoed against them);
2. searches the model's hyperparameters on validation with Optuna (`hpsearch.py`, `hp_trials` trials,
   seeded from the run seed and window index) and keeps the model with the lowest validation log loss;
3. registers each trial's model as a predictor (`strategy.learned`) and runs the ordinary window
   (threshold search on train, re-rank on validation, target) with `model_key` set to the chosen
   model: to the kernel it is a baseline like any other;
4. counts the trials honestly: each non-chosen model is evaluated on the train segment with every
   kernel parameter set the search tried, so the window presents (hp_trials x kernel trials) trials;
   the extra ones go to `trials.parquet` of the model directory, which the trial ledger records with
   the run (`auraquant.cta.experiment.ledger.record_run`) so the session DSR deflates by them;
5. returns the model artifacts (`artifacts.py`) as files of the window and their summary in the
   WindowResult (`model`), so the result.json a record signs pins their hashes.
Everything is deterministic: same bars, Spec, seed => same weights hashes and results.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from auraquant.cta.models.artifacts import (
    ModelManifest,
    artifact_files,
    model_key,
    predictor,
    probabilities,
)
from auraquant.cta.models.config import ModelConfig
from auraquant.cta.models.features import DEFAULT_FEATURE_SET, FeatureSet, feature_matrix, windows
from auraquant.cta.models.hooks import learned_kind
from auraquant.cta.models.hpsearch import HPTrial, search_hyperparameters
from auraquant.cta.models.labels import LABEL_CODES, assert_purged, make_label, purge_mask
from auraquant.cta.strategy import learned
from auraquant.cta.strategy.protocols import resolve_params
from auraquant.cta.strategy.spec import Spec, apply_params
from auraquant.store import bars_content_hash

FEATURE_SETS_DIR = "feature_sets"  # <workspace runtime dir>/feature_sets/<fset id>.json
INNER_VALIDATION = 0.2


class ModelWindowError(ValueError):
    """A learned baseline cannot be fitted on this window (too few samples, unknown feature set...)."""


def baseline_params(spec: Spec) -> dict[str, Any]:
    from auraquant.cta.strategy.loader import load_module

    mod = load_module("baselines", spec.baseline.name)
    return resolve_params(mod.name, mod.params, spec.baseline.params)


def model_config(kind: str, p: dict[str, Any]) -> ModelConfig:
    hidden = int(p["hidden"])
    return ModelConfig(kind=kind, lookback=int(p["lookback"]), hidden=hidden, layers=int(p["layers"]),  # type: ignore[arg-type]
                       heads=2 if hidden % 2 == 0 else 1, epochs=int(p["epochs"]),
                       device="auto" if int(p.get("device", 0)) == 1 else "cpu")


def feature_set_for(key: int, runtime_dir: str | Path | None) -> FeatureSet:
    """The feature set of a baseline's `features` parameter: 0 the default, otherwise the stored set
    (`feature_set_put`) whose key it is."""
    if key == 0:
        return DEFAULT_FEATURE_SET
    if runtime_dir is not None:
        d = Path(runtime_dir) / FEATURE_SETS_DIR
        for f in sorted(d.glob("fset_*.json")) if d.is_dir() else []:
            fs = FeatureSet.model_validate_json(f.read_text())
            if fs.key == key:
                return fs
    raise ModelWindowError(f"no feature set with key {key} in this workspace (store one with feature_set_put)")


def model_seed(seed: int, window: int) -> int:
    return int.from_bytes(hashlib.sha256(f"{seed}/{window}/model".encode()).digest()[:4], "little")


@dataclass
class Samples:
    X: np.ndarray
    y: np.ndarray  # float, NaN where the label is undefined
    rows: np.ndarray  # decision bar of each sample, relative to its segment


def segment_samples(frame: pd.DataFrame, fs: FeatureSet, lookback: int, label: str, horizon: int) -> Samples:
    """Samples of one segment from its own bars: every bar whose lookback window of features is complete."""
    X, rows = windows(feature_matrix(frame, fs).to_numpy(), lookback)
    y = make_label(label, frame["high"].to_numpy(), frame["low"].to_numpy(),  # type: ignore[arg-type]
                   frame["close"].to_numpy(), horizon)
    return Samples(X=X, y=y[rows], rows=rows)


@dataclass
class TrainingSet:
    X_train: np.ndarray
    y_train: np.ndarray
    X_val: np.ndarray
    y_val: np.ndarray
    train_rows_abs: np.ndarray
    test_start_abs: int


def training_set(task: Any, fs: FeatureSet, lookback: int, label: str, horizon: int) -> TrainingSet:
    """Purged and embargoed training rows and validation rows of a window (see the module docstring)."""
    w = task.window
    tr = segment_samples(task.train, fs, lookback, label, horizon)
    rows_abs = tr.rows + w.train.start
    if task.validation is not None:
        va = segment_samples(task.validation, fs, lookback, label, horizon)
        test_start = w.validation.start
        keep = np.isfinite(tr.y) & purge_mask(rows_abs, horizon, test_start, horizon)
        vkeep = np.isfinite(va.y)
        X_val, y_val = va.X[vkeep], va.y[vkeep]
    else:
        labelled = np.flatnonzero(np.isfinite(tr.y))
        if len(labelled) < 10:
            raise ModelWindowError(f"window {w.index}: only {len(labelled)} labelled training samples")
        split = int(rows_abs[labelled[int(len(labelled) * (1 - INNER_VALIDATION))]])
        test_start = split
        vmask = np.isfinite(tr.y) & (rows_abs >= split)
        keep = np.isfinite(tr.y) & purge_mask(rows_abs, horizon, split, horizon)
        X_val, y_val = tr.X[vmask], tr.y[vmask]
    assert_purged(rows_abs[keep], horizon, test_start, horizon)
    if keep.sum() < 10 or len(np.unique(tr.y[keep])) < 2:
        raise ModelWindowError(f"window {w.index}: {int(keep.sum())} purged training samples (need >= 10 with "
                               "both labels): lengthen the train segment or shorten lookback/horizon")
    return TrainingSet(X_train=tr.X[keep], y_train=tr.y[keep].astype(np.int8), X_val=X_val,
                       y_val=y_val.astype(np.int8), train_rows_abs=rows_abs[keep], test_start_abs=test_start)


@dataclass
class FittedWindow:
    trials: list[HPTrial]
    best: int
    keys: list[int]
    feature_set: FeatureSet
    data: TrainingSet
    params: dict[str, Any]
    seed: int


def fit_window(task: Any) -> FittedWindow:
    """Steps 1-2 of the module docstring, and registration of every trial's predictor (step 3)."""
    kind = learned_kind(task.spec)
    if kind is None:
        raise ModelWindowError(f"{task.spec.baseline.name} is not a learned baseline")
    p = baseline_params(task.spec)
    fs = feature_set_for(int(p["features"]), task.extra_dir)
    horizon, label = int(p["horizon"]), LABEL_CODES[int(p["label"])]
    cfg = model_config(kind, p)
    data = training_set(task, fs, cfg.lookback, label, horizon)
    seed = model_seed(task.seed, task.window.index)
    trials, best = search_hyperparameters(cfg, data.X_train, data.y_train, data.X_val, data.y_val,
                                          n_trials=int(p["hp_trials"]), seed=seed)
    keys = []
    for t in trials:
        k = model_key(t.model.weights_sha256, fs, cfg.lookback)
        learned.register(k, predictor(t.model, fs))
        keys.append(k)
    return FittedWindow(trials=trials, best=best, keys=keys, feature_set=fs, data=data, params=p, seed=seed)


def window_payload(task: Any) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The `training.train_from_payload` inputs of a window's base model (the Spec's own hyperparameters:
    trial 0 of the window's search): what a remote training job of this window runs. The weights it
    returns hash equal to trial 0's in `fit_window` on the same task."""
    kind = learned_kind(task.spec)
    if kind is None:
        raise ModelWindowError(f"{task.spec.baseline.name} is not a learned baseline")
    p = baseline_params(task.spec)
    fs = feature_set_for(int(p["features"]), task.extra_dir)
    cfg = model_config(kind, p)
    data = training_set(task, fs, cfg.lookback, LABEL_CODES[int(p["label"])], int(p["horizon"]))
    from auraquant.cta.models.hpsearch import base_config

    payload = {"config": base_config(cfg).model_dump(mode="json"), "seed": model_seed(task.seed, task.window.index)}
    return payload, {"X_train": data.X_train, "y_train": data.y_train, "X_val": data.X_val, "y_val": data.y_val}


def _model_trials(task: Any, fit: FittedWindow, kernel_trials: pd.DataFrame, evaluate: Any) -> pd.DataFrame:
    """Step 4: every non-chosen model with every kernel parameter set, on the train segment."""
    names = list(task.spec.search_space)
    sets = [{n: row[n] for n in names} for _, row in kernel_trials.iterrows()]
    frames = []
    for i, t in enumerate(fit.trials):
        if i == fit.best:
            continue
        spec = apply_params(task.spec, {"baseline.model_key": fit.keys[i]})
        table = evaluate(task.train, spec, sets, task.search, task.engine_threads, task.extra_dir)
        frames.append(pd.DataFrame({"window": task.window.index, "hp_trial": t.number,
                                    "batch": kernel_trials["batch"].to_numpy(),
                                    "slot": kernel_trials["slot"].to_numpy(),
                                    **{n: kernel_trials[n].to_numpy() for n in names},
                                    "daily_mean": table["daily_mean"].to_numpy(dtype=float),
                                    "daily_std": table["daily_std"].to_numpy(dtype=float),
                                    "n_days": table["n_days"].to_numpy(dtype=float),
                                    "ruined": table["ruined"].to_numpy(dtype=float),
                                    "sharpe": table["sharpe"].to_numpy(dtype=float),
                                    "score": table["score"].to_numpy(dtype=float)}))
    cols = ["window", "hp_trial", "batch", "slot", *names, "daily_mean", "daily_std", "n_days", "ruined", "sharpe",
            "score"]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=cols)


def _span(frame: pd.DataFrame) -> tuple[str, str]:
    return (frame["time"].iloc[0].isoformat(), frame["time"].iloc[-1].isoformat())


def describe_fit(task: Any, fit: FittedWindow, predict_on: pd.DataFrame, **source: Any
                 ) -> tuple[ModelManifest, pd.DataFrame]:
    """The manifest of a window's chosen model and its predictions on `predict_on` (time, probability).
    `source` sets where the model came from (`run_id`/`window`, or `data_version_id`/`predicted_rows`)."""
    chosen = fit.trials[fit.best]
    p = probabilities(chosen.model, fit.feature_set, predict_on)
    predictions = pd.DataFrame({"time": predict_on["time"].to_numpy(), "probability": p})
    m = chosen.model.metrics
    manifest = ModelManifest(
        config=chosen.config, seed=fit.seed, n_features=chosen.model.n_features, feature_set=fit.feature_set,
        feature_set_id=fit.feature_set.id,
        feature_columns=list(feature_matrix(task.train.head(min(len(task.train), 64)), fit.feature_set).columns),
        label=LABEL_CODES[int(fit.params["label"])], horizon=int(fit.params["horizon"]),
        embargo=int(fit.params["horizon"]), train_data_hash=bars_content_hash(task.train),
        validation_data_hash=None if task.validation is None else bars_content_hash(task.validation),
        train_span=_span(task.train), n_train=len(fit.data.X_train), n_validation=len(fit.data.X_val),
        weights_sha256=chosen.model.weights_sha256, model_key=fit.keys[fit.best],
        metrics={k: (float(v) if np.isfinite(v) else None) for k, v in m.items()},
        hp_trials=[t.summary() for t in fit.trials], **source)
    return manifest, predictions


def run_model_window(task: Any, run_window: Any, evaluate: Any) -> Any:
    """Fit, search, select and evaluate one window of a learned baseline (see the module docstring).
    `run_window` and `evaluate` are the experiment layer's window runner and trial evaluator (passed in,
    so this layer does not import the one that calls it). Returns the window's `WindowOutcome`, with the
    model artifacts in `files` (`model/<name>`)."""
    fit = fit_window(task)
    spec = apply_params(task.spec, {"baseline.model_key": fit.keys[fit.best]})
    outcome = run_window(replace(task, spec=spec))
    extra = _model_trials(task, fit, outcome.trials, evaluate)
    manifest, predictions = describe_fit(task, fit, task.target, run_id=task.run_id, window=task.window.index)
    weights = fit.trials[fit.best].model.weights_bytes()
    files = {f"model/{name}": data for name, data in artifact_files(manifest, weights, predictions, extra).items()}
    summary = manifest.summary() | {"model_trials": int(len(extra)), "kernel_trials": int(len(outcome.trials))}
    result = outcome.result.model_copy(update={"model": summary})
    return replace(outcome, result=result, files=files)

