"""Model artifacts: what one fitted model is (manifest), where its files live, and how it is reloaded.

A fitted model is stored as a directory of four files:
- `manifest.json`: `ModelManifest` (config, feature set and resolved columns, label, seed, the content
  hashes of its training and validation bars, `weights_sha256`, metrics, the hyperparameter trials);
- `weights.bin`: `TrainedModel.weights_bytes()` (its sha256 is `weights_sha256`);
- `predictions.parquet`: `time`, `probability` of the bars it was evaluated on (the window's target
  segment), the reference a reload must reproduce bit for bit;
- `trials.parquet`: the kernel trials its hyperparameter search added (see `auraquant.cta.models.window`).
Walk-forward windows keep them in `<run dir>/windows/wKKK_model/`; `model_train` in
`<workspace>/.aura/artifacts/models/<model id>/`. The model id hashes the manifest, so it names the
weights, features, data and config together.
"""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, Field

from auraquant.canonical import content_id
from auraquant.cta.models.config import ModelConfig
from auraquant.cta.models.features import FeatureSet, feature_matrix, windows
from auraquant.cta.models.training import TrainedModel
from auraquant.cta.strategy.bars import Bars

MANIFEST, WEIGHTS, PREDICTIONS, TRIALS = "manifest.json", "weights.bin", "predictions.parquet", "trials.parquet"


class ModelManifest(BaseModel):
    model_config = {"frozen": True, "extra": "forbid"}
    config: ModelConfig
    seed: int
    n_features: int
    feature_set: FeatureSet
    feature_set_id: str
    feature_columns: list[str]
    label: str
    horizon: int
    embargo: int
    train_data_hash: str = Field(description="content hash of the train bars (store.bars_content_hash)")
    validation_data_hash: str | None
    train_span: tuple[str, str]
    n_train: int
    n_validation: int
    weights_sha256: str
    model_key: int
    metrics: dict[str, float | None]
    hp_trials: list[dict[str, Any]]
    data_version_id: str | None = None
    predicted_rows: tuple[int, int] | None = Field(None, description="[start, stop) of the predicted bars among "
                                                   "the visible bars of the data version (model_train)")
    run_id: str | None = None
    window: int | None = None

    @property
    def id(self) -> str:
        return content_id("model", self, 20)

    def summary(self) -> dict[str, Any]:
        """What a WindowResult and the tools show: ids and hashes, not the whole manifest."""
        return {"model_id": self.id, "kind": self.config.kind, "config_id": self.config.config_id(),
                "feature_set_id": self.feature_set_id, "n_features": self.n_features, "label": self.label,
                "horizon": self.horizon, "train_data_hash": self.train_data_hash,
                "weights_sha256": self.weights_sha256, "model_key": self.model_key, "n_train": self.n_train,
                "val_logloss": self.metrics.get("val_logloss"), "val_accuracy": self.metrics.get("val_accuracy"),
                "hp_trials": len(self.hp_trials)}


def model_key(weights_sha256: str, fs: FeatureSet, lookback: int) -> int:
    """The baseline's `model_key` of a fitted predictor: 48 bits of sha256(weights, feature set, lookback)
    (a content key: the same key always names the same predictor)."""
    h = hashlib.sha256(f"{weights_sha256}/{fs.id}/{lookback}".encode()).hexdigest()
    return int(h[:12], 16) or 1


def frame_of(bars: Bars) -> pd.DataFrame:
    return pd.DataFrame({"time": pd.to_datetime(bars.time_ns, utc=True), "open": bars.open, "high": bars.high,
                         "low": bars.low, "close": bars.close, "volume": bars.volume})


def probabilities(model: TrainedModel, fs: FeatureSet, frame: pd.DataFrame) -> np.ndarray:
    """P(up) per bar of `frame` from closed bars only (NaN where the lookback window is not complete)."""
    X, rows = windows(feature_matrix(frame, fs).to_numpy(), model.config.lookback)
    out = np.full(len(frame), np.nan)
    out[rows] = model.predict_proba(X)
    return out


def predictor(model: TrainedModel, fs: FeatureSet) -> Any:
    """A `strategy.learned` predictor (Bars -> P(up) per bar) of a fitted model."""
    return lambda bars: probabilities(model, fs, frame_of(bars))


def parquet_bytes(frame: pd.DataFrame) -> bytes:
    buf = io.BytesIO()
    frame.to_parquet(buf, index=False)
    return buf.getvalue()


def artifact_files(manifest: ModelManifest, weights: bytes, predictions: pd.DataFrame,
                   trials: pd.DataFrame) -> dict[str, bytes]:
    return {MANIFEST: manifest.model_dump_json(indent=2).encode(), WEIGHTS: weights,
            PREDICTIONS: parquet_bytes(predictions), TRIALS: parquet_bytes(trials)}


class ModelNotFound(LookupError):
    pass


class ModelArtifactError(ValueError):
    """A model's files are missing or do not match its manifest."""


def model_dirs(artifacts_root: Path) -> list[Path]:
    """Every model directory under a workspace's artifacts root (walk-forward windows and model_train)."""
    found = list(artifacts_root.glob("runs/*/windows/w*_model")) + list(artifacts_root.glob("models/*"))
    return sorted(d for d in found if (d / MANIFEST).is_file())


def find_model(artifacts_root: Path, model_id: str) -> Path:
    """The directory of model `model_id` (ModelNotFound when no manifest hashes to it)."""
    for d in model_dirs(artifacts_root):
        try:
            if ModelManifest.model_validate_json((d / MANIFEST).read_text()).id == model_id:
                return d
        except ValueError:
            continue
    raise ModelNotFound(f"no model {model_id} in this workspace (models are made by experiment runs of a "
                        "model_* baseline or by model_train)")


def load_model(d: Path) -> tuple[ModelManifest, TrainedModel]:
    """Manifest and reloaded model of a model directory, after checking the weights' sha256."""
    manifest = ModelManifest.model_validate_json((d / MANIFEST).read_text())
    data = (d / WEIGHTS).read_bytes()
    got = hashlib.sha256(data).hexdigest()
    if got != manifest.weights_sha256:
        raise ModelArtifactError(f"{d / WEIGHTS}: sha256 {got[:12]} differs from the manifest's "
                                 f"{manifest.weights_sha256[:12]}")
    return manifest, TrainedModel.from_bytes(manifest.config, manifest.n_features, data, seed=manifest.seed)


def file_digests(d: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(d.iterdir()) if p.is_file()}


def show(d: Path, frame: pd.DataFrame | None) -> dict[str, Any]:
    """A model's manifest summary, file digests and, when the bars it predicted are given (`frame`), a
    reload check: the stored predictions recomputed from the reloaded weights (`reload_identical`)."""
    manifest, model = load_model(d)
    out: dict[str, Any] = {**manifest.summary(), "config": manifest.config.model_dump(mode="json"),
                           "feature_columns": manifest.feature_columns, "metrics": manifest.metrics,
                           "hp_trials_detail": manifest.hp_trials, "run_id": manifest.run_id,
                           "window": manifest.window, "train_span": list(manifest.train_span),
                           "files": file_digests(d), "path": str(d)}
    stored = pd.read_parquet(d / PREDICTIONS)
    out["predictions"] = {"rows": len(stored), "defined": int(stored["probability"].notna().sum())}
    if frame is not None:
        t = pd.to_datetime(stored["time"], utc=True)
        sub = frame[frame["time"].isin(t)].reset_index(drop=True)
        if len(sub) != len(stored):
            raise ModelArtifactError(f"the bars given hold {len(sub)} of the {len(stored)} predicted bars")
        again = probabilities(model, manifest.feature_set, sub)
        ref = stored["probability"].to_numpy(dtype=np.float64)
        out["reload_identical"] = bool(np.array_equal(again, ref, equal_nan=True))
        diff = np.abs(again - ref)
        out["reload_max_abs_diff"] = float(np.nanmax(diff)) if np.isfinite(diff).any() else 0.0
    return out


def manifest_json(d: Path) -> dict[str, Any]:
    return json.loads((d / MANIFEST).read_text())
