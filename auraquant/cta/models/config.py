"""`ModelConfig`: what a learned baseline trains (architecture, size, optimisation, device).

Defaults are small on purpose: every model trains in seconds on one CPU core, which is what a
walk-forward of many windows needs. A field that does not apply to a kind is ignored by it (and still
part of the config's identity, so two configs that differ only there are different configs).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from auraquant.canonical import content_id

ModelKind = Literal["lightgbm", "lstm", "transformer", "nbeats"]
Device = Literal["cpu", "cuda", "auto"]
MODEL_KINDS: tuple[str, ...] = ("lightgbm", "lstm", "transformer", "nbeats")
TORCH_KINDS: tuple[str, ...] = ("lstm", "transformer", "nbeats")


class ModelConfig(BaseModel):
    """One model's hyperparameters.

    kind: `lightgbm` (gradient boosting on the flattened lookback window), `lstm` (last hidden state of an
      LSTM), `transformer` (encoder over the lookback window with learned positions, mean pooled) or
      `nbeats` (generic N-BEATS blocks on the flattened window; the forecast head is a logit).
    lookback: rows of features per sample (the sequence length the model sees; 1 = the current bar only).
    hidden / layers / heads / dropout: network size (torch kinds); `heads` must divide `hidden`.
    epochs / batch_size / learning_rate / weight_decay: Adam on binary cross-entropy (torch kinds).
    num_leaves / n_estimators / min_child_samples / boost_learning_rate: LightGBM.
    device: `cpu` (bit-identical across runs), `cuda`, or `auto` (CUDA when present, else CPU). GPU results
      are deterministic on one device but differ from CPU within `GPU_TOLERANCE` (see training.py).
    """

    model_config = {"frozen": True, "extra": "forbid"}

    kind: ModelKind = "lstm"
    lookback: int = Field(16, ge=1, le=512)
    hidden: int = Field(16, ge=1, le=1024)
    layers: int = Field(1, ge=1, le=8)
    heads: int = Field(2, ge=1, le=16)
    dropout: float = Field(0.0, ge=0.0, lt=1.0)
    epochs: int = Field(4, ge=1, le=1000)
    batch_size: int = Field(64, ge=1, le=65536)
    learning_rate: float = Field(3e-3, gt=0.0, le=1.0)
    weight_decay: float = Field(0.0, ge=0.0, le=1.0)
    num_leaves: int = Field(15, ge=2, le=1024)
    n_estimators: int = Field(60, ge=1, le=10000)
    min_child_samples: int = Field(20, ge=1, le=100000)
    boost_learning_rate: float = Field(0.05, gt=0.0, le=1.0)
    device: Device = "cpu"

    def config_id(self) -> str:
        """`mcfg_` + 16 hex of the sha256 of the canonical JSON: the config's identity."""
        return content_id("mcfg", self, 16)
