"""Workspace-level model operations shared by the CLI (`auraquant model …`) and the agent tools:
store a feature set, train one model on a data version, show (and reload-check) a stored model.

Every function works on a `Workspace`; the sealed holdout is never read (bars come through
`SealedBars`, which stops at the declared holdout).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from auraquant.cta.models.artifacts import ModelManifest, artifact_files, find_model, show
from auraquant.cta.models.features import FEATURE_SET_KIND, FeatureSet, feature_matrix
from auraquant.cta.models.hooks import LEARNED_BASELINES
from auraquant.cta.models.window import FEATURE_SETS_DIR, describe_fit, fit_window
from auraquant.cta.strategy.spec import Spec
from auraquant.workspace import Workspace

MODELS_DIR = "models"  # <workspace>/.aura/artifacts/models/<model id>/ (model_train)


def put_feature_set(ws: Workspace, fs: FeatureSet) -> dict[str, Any]:
    """Validate `fs` on sample bars (unknown indicators or timeframes are refused), store it in the store
    (kind `feature_set`) and in the workspace runtime dir, where walk-forward windows find it by key.
    Returns its id, the baseline parameter value (`features` = key) and its resolved columns."""
    from auraquant.cta.data.synthetic import generate

    columns = list(feature_matrix(generate(400, seed=1), fs).columns)
    d = ws.runtime_dir / FEATURE_SETS_DIR
    d.mkdir(parents=True, exist_ok=True)
    path = d / f"{fs.id}.json"
    if not path.is_file():
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(fs.model_dump_json(indent=2))
        os.replace(tmp, path)
    ws.store.put_object(FEATURE_SET_KIND, fs, obj_id=fs.id)
    return {"feature_set_id": fs.id, "key": fs.key, "columns": columns, "definition": fs.model_dump(mode="json")}


@dataclass
class _FitTask:
    """The fields of a walk-forward task that `fit_window` reads."""

    spec: Spec
    window: Any
    train: pd.DataFrame
    validation: pd.DataFrame | None
    seed: int
    extra_dir: str | None
    run_id: str | None = None


def train_on_data(ws: Workspace, data_version_id: str, kind: str, params: dict[str, int | float], *,
                  train_bars: int, validation_bars: int, seed: int = 0) -> dict[str, Any]:
    """Train one model (with its Optuna search) on the last `train_bars + embargo + validation_bars` visible
    bars of a data version (the embargo is the label horizon), store its artifacts under
    `.aura/artifacts/models/<model id>/` and return the model's summary. Validation predictions are the
    reload reference. Same inputs => same model id and weights hash."""
    from auraquant.cta.data import access
    from auraquant.cta.experiment.config import Segment, Window
    from auraquant.cta.experiment.sealed import SealedBars

    name = f"model_{kind}"
    if name not in LEARNED_BASELINES:
        raise ValueError(f"unknown model kind {kind!r}; one of {sorted(LEARNED_BASELINES.values())}")
    if train_bars < 50 or validation_bars < 20:
        raise ValueError("train_bars must be >= 50 and validation_bars >= 20")
    spec = Spec(name=f"{name} (model_train)", baseline={"name": name, "params": dict(params)})
    from auraquant.cta.models.window import baseline_params

    horizon = int(baseline_params(spec)["horizon"])
    bars = SealedBars.from_store(ws.store, data_version_id, access.holdout_start(ws.store, data_version_id))
    need = train_bars + horizon + validation_bars
    if len(bars) < need:
        raise ValueError(f"{data_version_id} has {len(bars)} bars before its holdout; this needs {need}")
    a = len(bars) - need
    tr, va = Segment(start=a, stop=a + train_bars), Segment(start=a + train_bars + horizon, stop=len(bars))
    window = Window(index=0, train=tr, validation=va, target=va)
    task = _FitTask(spec=spec, window=window, train=bars.segment(tr.start, tr.stop),
                    validation=bars.segment(va.start, va.stop), seed=seed, extra_dir=str(ws.runtime_dir))
    fit = fit_window(task)
    manifest, predictions = describe_fit(task, fit, task.validation, data_version_id=data_version_id,  # type: ignore[arg-type]
                                         predicted_rows=(va.start, va.stop))
    d = ws.artifacts / MODELS_DIR / manifest.id
    d.mkdir(parents=True, exist_ok=True)
    empty = pd.DataFrame(columns=["window", "hp_trial", "batch", "slot", "daily_mean", "daily_std", "n_days",
                                  "ruined"])
    for fname, data in artifact_files(manifest, fit.trials[fit.best].model.weights_bytes(), predictions,
                                      empty).items():
        tmp = d / f".{fname}.{os.getpid()}.tmp"
        tmp.write_bytes(data)
        os.replace(tmp, d / fname)
    return manifest.summary() | {"path": str(d), "data_version_id": data_version_id,
                                 "validation_span": [str(task.validation["time"].iloc[0]),
                                                     str(task.validation["time"].iloc[-1])]}


def _predicted_bars(ws: Workspace, manifest: ModelManifest) -> pd.DataFrame | None:
    """The bars a stored model's reference predictions were made on (None when not recoverable)."""
    from auraquant.cta.data import access
    from auraquant.cta.experiment.config import plan_windows
    from auraquant.cta.experiment.models import RUN_KIND, Run
    from auraquant.cta.experiment.runner import sealed_bars_for
    from auraquant.cta.experiment.sealed import SealedBars

    if manifest.run_id is not None and manifest.window is not None:
        run = ws.store.get_object(RUN_KIND, manifest.run_id, Run)
        if run.data.data_version_id is None:
            return None
        bars = sealed_bars_for(ws, run)
        seg = plan_windows(run.data.bars, run.walk_forward)[manifest.window].target
        return bars.segment(seg.start, seg.stop)
    if manifest.data_version_id is not None and manifest.predicted_rows is not None:
        dv = manifest.data_version_id
        bars = SealedBars.from_store(ws.store, dv, access.holdout_start(ws.store, dv))
        return bars.segment(*manifest.predicted_rows)
    return None


def model_show(ws: Workspace, model_id: str, *, verify: bool = True) -> dict[str, Any]:
    """A stored model: summary, config, features, hyperparameter trials, file sha256s, and with `verify`
    the reload check (weights reloaded from their bytes re-predict the stored reference bit for bit)."""
    d: Path = find_model(ws.artifacts, model_id)
    manifest = ModelManifest.model_validate_json((d / "manifest.json").read_text())
    frame = _predicted_bars(ws, manifest) if verify else None
    return show(d, frame)
