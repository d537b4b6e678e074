"""The PyTorch networks of the sequence kinds (imported only when torch is installed and needed).

Every network maps a float32 batch (n, lookback, n_features) to n logits of P(label = 1). Inputs are
standardized inside the network with the `mu` / `sd` buffers fitted on the training rows, so the
standardization is part of the weights (and of their hash).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from auraquant.cta.models.config import ModelConfig


class _Standardize(nn.Module):
    def __init__(self, n_features: int) -> None:
        super().__init__()
        self.register_buffer("mu", torch.zeros(n_features))
        self.register_buffer("sd", torch.ones(n_features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mu) / self.sd


class LstmNet(nn.Module):
    """LSTM over the window; the last step's hidden state feeds a linear logit head."""

    def __init__(self, cfg: ModelConfig, n_features: int) -> None:
        super().__init__()
        self.norm = _Standardize(n_features)
        self.rnn = nn.LSTM(n_features, cfg.hidden, num_layers=cfg.layers, batch_first=True,
                           dropout=cfg.dropout if cfg.layers > 1 else 0.0)
        self.head = nn.Linear(cfg.hidden, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.rnn(self.norm(x))
        return self.head(out[:, -1, :]).squeeze(-1)


class TransformerNet(nn.Module):
    """Transformer encoder (pre-norm, learned positions) over the window, mean pooled, linear logit head."""

    def __init__(self, cfg: ModelConfig, n_features: int) -> None:
        super().__init__()
        if cfg.hidden % cfg.heads:
            raise ValueError(f"transformer: hidden ({cfg.hidden}) must be a multiple of heads ({cfg.heads})")
        self.norm = _Standardize(n_features)
        self.embed = nn.Linear(n_features, cfg.hidden)
        self.pos = nn.Parameter(torch.zeros(cfg.lookback, cfg.hidden))
        layer = nn.TransformerEncoderLayer(cfg.hidden, cfg.heads, dim_feedforward=2 * cfg.hidden,
                                           dropout=cfg.dropout, batch_first=True, norm_first=True)
        # enable_nested_tensor=False: one code path in train and eval (the fast path is not deterministic
        # with respect to the training path's numerics)
        self.encoder = nn.TransformerEncoder(layer, cfg.layers, enable_nested_tensor=False)
        self.head = nn.Linear(cfg.hidden, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.embed(self.norm(x)) + self.pos[: x.shape[1]]
        return self.head(self.encoder(h).mean(dim=1)).squeeze(-1)


class _NBeatsBlock(nn.Module):
    def __init__(self, width_in: int, hidden: int, layers: int) -> None:
        super().__init__()
        mods: list[nn.Module] = []
        w = width_in
        for _ in range(max(layers, 1) + 1):  # N-BEATS blocks stack a few fully connected ReLU layers
            mods += [nn.Linear(w, hidden), nn.ReLU()]
            w = hidden
        self.fc = nn.Sequential(*mods)
        self.backcast = nn.Linear(hidden, width_in)
        self.forecast = nn.Linear(hidden, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.fc(x)
        return self.backcast(h), self.forecast(h).squeeze(-1)


class NBeatsNet(nn.Module):
    """Generic N-BEATS: doubly residual blocks on the flattened window; forecasts (logits) are summed.
    `layers` is the number of blocks."""

    def __init__(self, cfg: ModelConfig, n_features: int) -> None:
        super().__init__()
        self.norm = _Standardize(n_features)
        width = cfg.lookback * n_features
        self.blocks = nn.ModuleList([_NBeatsBlock(width, cfg.hidden, 2) for _ in range(cfg.layers)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        r = self.norm(x).flatten(1)
        total = torch.zeros(x.shape[0], dtype=x.dtype, device=x.device)
        for b in self.blocks:
            back, fore = b(r)
            r = r - back
            total = total + fore
        return total


NETS: dict[str, Any] = {"lstm": LstmNet, "transformer": TransformerNet, "nbeats": NBeatsNet}


def build(cfg: ModelConfig, n_features: int) -> nn.Module:
    """A fresh network of `cfg.kind` (its initial weights come from torch's global RNG: seed it first)."""
    return NETS[cfg.kind](cfg, n_features)
