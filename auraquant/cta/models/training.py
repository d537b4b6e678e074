"""The training API: one model, trained on arrays, serialized deterministically, reloaded exactly.

This module is the contract between the model baseline (per walk-forward window, in process) and the
training job kind (`job run`, Dask, Managed Agents), which calls `train_from_payload` remotely. It
depends on no store, workspace or bars: only numpy arrays and a `ModelConfig`.

Data contract
- `X`: float32-castable array of shape (n, lookback, n_features), finite, rows in time order; row i is
  the feature window ending at sample i's decision bar. `lookback` must equal `config.lookback`.
  LightGBM and N-BEATS see the window flattened to lookback * n_features columns.
- `y`: n labels in {0, 1} (1 = the event the probability is about, e.g. "the next h-bar return > 0").
- Validation arrays may be empty (0 rows): validation metrics are then NaN.

Determinism (CPU)
- `train_model(..., seed=s)` with the same config and arrays gives bit-identical weights on CPU: torch
  runs with `use_deterministic_algorithms(True)`, one intra-op thread (restored afterwards), weights
  initialised after `torch.manual_seed(seed)`, mini-batches shuffled by a `torch.Generator` seeded with
  `seed`; LightGBM runs with `deterministic=True`, one thread, `seed=s`, row-wise histograms.
- `predict_proba` runs on CPU with one thread in fixed 1024-row chunks (the last one zero-padded), so a
  reloaded model predicts bit-identical probabilities, and the probabilities of the first k rows do not
  depend on the rows after them (bit for bit).
- GPU (`device` `cuda`, or `auto` with CUDA present): deterministic on one device, but float reductions
  differ from CPU, so probabilities agree with the CPU-trained model only within `GPU_TOLERANCE`
  (max absolute difference of predicted probabilities); the weights hash differs.

Serialization (`TrainedModel.weights_bytes`)
- torch kinds: the state_dict's tensors in sorted key order, each as raw little-endian float32 bytes
  (no header: shapes follow from config and n_features; `from_bytes` checks the total size).
- lightgbm: `Booster.model_to_string()` encoded as UTF-8.
`weights_sha256` is the sha256 hex of those bytes: the hash that enters model artifacts and records.

Dependencies: torch / lightgbm are imported lazily here; a missing one raises `MissingDependency` with
a one-line message naming the `ml` extra.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import math
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from auraquant.cta.models.config import TORCH_KINDS, ModelConfig

GPU_TOLERANCE = 2e-2  # max |p_gpu - p_cpu| of predicted probabilities (same seed, config and data)
_PREDICT_CHUNK = 1024
_EPS = 1e-7
# torch's thread count and deterministic flag are process-wide: windows fitted in parallel threads take
# turns, so no fit ever runs while another thread has changed (or restored) them.
_TORCH_LOCK = threading.RLock()


class MissingDependency(RuntimeError):
    """torch or lightgbm is not installed (they come with the `ml` extra)."""


def _require(module: str) -> Any:
    try:
        return __import__(module)
    except ImportError:
        raise MissingDependency(f"{module} is not installed: learned baselines need the ml extra "
                                f"(pip install 'auraquant[ml]')") from None


@dataclass
class TrainedModel:
    """A fitted model: its config, input width, seed, validation metrics and the fitted estimator."""

    config: ModelConfig
    n_features: int
    seed: int
    estimator: Any  # a torch nn.Module (on CPU, eval mode) or a lightgbm Booster
    metrics: dict[str, float] = field(default_factory=dict)
    _bytes: bytes | None = field(default=None, repr=False)

    @property
    def kind(self) -> str:
        return self.config.kind

    def weights_bytes(self) -> bytes:
        """The deterministic serialization of the weights (see the module docstring)."""
        if self._bytes is None:
            self._bytes = _serialize(self.config, self.estimator)
        return self._bytes

    @property
    def weights_sha256(self) -> str:
        return hashlib.sha256(self.weights_bytes()).hexdigest()

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """P(label = 1) per row of X (shape (n, lookback, n_features)) as float64, CPU, bit-stable."""
        X = _check_X(X, self.config, self.n_features, "X")
        if len(X) == 0:
            return np.zeros(0, dtype=np.float64)
        if self.kind == "lightgbm":
            return np.asarray(self.estimator.predict(X.reshape(len(X), -1), num_threads=1), dtype=np.float64)
        torch = _require("torch")
        out = []
        with _torch_deterministic(torch), torch.no_grad():
            for a in range(0, len(X), _PREDICT_CHUNK):
                # every chunk is padded to the full chunk size: CPU kernels pick their blocking by batch size,
                # so a row's probability would otherwise depend (in the last bits) on how many rows come
                # with it; padded, row i of X always meets the same kernels at the same position, so the
                # predictions on a prefix of X are bit-identical to the first rows of those on X
                part = X[a:a + _PREDICT_CHUNK]
                xb = np.zeros((_PREDICT_CHUNK, *X.shape[1:]), dtype=np.float32)
                xb[:len(part)] = part
                p = torch.sigmoid(self.estimator(torch.from_numpy(xb))).double().numpy()
                out.append(p[:len(part)])
        return np.concatenate(out)

    @classmethod
    def from_bytes(cls, config: ModelConfig, n_features: int, data: bytes, *, seed: int = 0,
                   metrics: dict[str, float] | None = None) -> TrainedModel:
        """Rebuild a model from `weights_bytes()` output: predictions are bit-identical to the original's."""
        if config.kind == "lightgbm":
            lgb = _require("lightgbm")
            est: Any = lgb.Booster(model_str=data.decode("utf-8"))
        else:
            torch = _require("torch")
            from auraquant.cta.models.nets import build

            with _torch_deterministic(torch):
                est = build(config, n_features)
            state = est.state_dict()
            need = sum(int(t.numel()) * 4 for t in state.values())
            if need != len(data):
                raise ValueError(f"weights are {len(data)} bytes; a {config.kind} with this config and "
                                 f"{n_features} features needs {need}")
            pos, loaded = 0, {}
            for k in sorted(state):
                t = state[k]
                n = int(t.numel()) * 4
                arr = np.frombuffer(data, dtype="<f4", count=n // 4, offset=pos).reshape(tuple(t.shape))
                loaded[k] = torch.from_numpy(arr.astype(np.float32))
                pos += n
            est.load_state_dict(loaded)
            est.eval()
        return cls(config=config, n_features=n_features, seed=seed, estimator=est,
                   metrics=dict(metrics or {}), _bytes=bytes(data))


def _serialize(config: ModelConfig, est: Any) -> bytes:
    if config.kind == "lightgbm":
        return est.model_to_string().encode("utf-8")
    parts = []
    state = est.state_dict()
    for k in sorted(state):
        t = state[k].detach().cpu().contiguous()
        if not t.is_floating_point():
            raise TypeError(f"state {k!r} is {t.dtype}, not floating point")
        parts.append(t.float().numpy().astype("<f4", copy=False).tobytes())
    return b"".join(parts)


def _check_X(X: np.ndarray, cfg: ModelConfig, n_features: int | None, name: str) -> np.ndarray:
    X = np.asarray(X, dtype=np.float32)
    if X.ndim != 3:
        raise ValueError(f"{name} must have shape (n, lookback, n_features), got {X.shape}")
    if X.shape[1] != cfg.lookback:
        raise ValueError(f"{name} has lookback {X.shape[1]}, the config says {cfg.lookback}")
    if n_features is not None and X.shape[2] != n_features:
        raise ValueError(f"{name} has {X.shape[2]} features, the model has {n_features}")
    if not np.all(np.isfinite(X)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return X


def _check_y(y: np.ndarray, n: int, name: str) -> np.ndarray:
    y = np.asarray(y)
    if y.shape != (n,):
        raise ValueError(f"{name} must have shape ({n},), got {y.shape}")
    if not np.all((y == 0) | (y == 1)):
        raise ValueError(f"{name} must hold labels 0 or 1")
    return y.astype(np.float32)


def resolve_device(device: str) -> str:
    """`cpu` or `cuda` for a config's device (`auto`: CUDA when torch sees one)."""
    if device == "cpu":
        return "cpu"
    torch = _require("torch")
    if device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device 'cuda' requested but torch sees no CUDA device")
    return "cuda" if torch.cuda.is_available() else "cpu"


@contextlib.contextmanager
def _torch_deterministic(torch: Any) -> Iterator[None]:
    """Deterministic algorithms and one intra-op thread for the block (one block at a time per process);
    previous settings restored."""
    with _TORCH_LOCK:
        yield from _deterministic_block(torch)


def _deterministic_block(torch: Any) -> Iterator[None]:
    threads = torch.get_num_threads()
    was = torch.are_deterministic_algorithms_enabled()
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(was)
        torch.set_num_threads(threads)


def _metrics(p: np.ndarray, y: np.ndarray, prefix: str) -> dict[str, float]:
    if len(y) == 0:
        return {f"{prefix}_logloss": math.nan, f"{prefix}_accuracy": math.nan}
    pc = np.clip(p, _EPS, 1 - _EPS)
    ll = float(-np.mean(y * np.log(pc) + (1 - y) * np.log(1 - pc)))
    return {f"{prefix}_logloss": ll, f"{prefix}_accuracy": float(np.mean((p > 0.5) == (y > 0.5)))}


def train_model(config: ModelConfig, X_train: np.ndarray, y_train: np.ndarray, X_val: np.ndarray,
                y_val: np.ndarray, *, seed: int) -> TrainedModel:
    """Fit one model of `config` on (X_train, y_train) and score it on (X_val, y_val).

    Pure function of its arguments (see the module docstring for shapes and the determinism contract).
    The validation rows never influence the weights; they only give `metrics` (`train_logloss`,
    `train_accuracy`, `val_logloss`, `val_accuracy`, `n_train`, `n_val`). Raises ValueError on bad
    shapes, non-finite features, labels outside {0, 1}, or fewer than 2 training rows.
    """
    X_train = _check_X(X_train, config, None, "X_train")
    n_features = int(X_train.shape[2])
    y_train = _check_y(y_train, len(X_train), "y_train")
    X_val = _check_X(X_val, config, n_features, "X_val") if len(X_val) else np.zeros(
        (0, config.lookback, n_features), dtype=np.float32)
    y_val = _check_y(y_val, len(X_val), "y_val")
    if len(X_train) < 2:
        raise ValueError(f"need at least 2 training rows, got {len(X_train)}")
    if config.kind == "lightgbm":
        est = _fit_lightgbm(config, X_train, y_train, seed)
    elif config.kind in TORCH_KINDS:
        est = _fit_torch(config, X_train, y_train, n_features, seed)
    else:  # pragma: no cover - ModelConfig admits nothing else
        raise ValueError(f"unknown model kind {config.kind!r}")
    model = TrainedModel(config=config, n_features=n_features, seed=seed, estimator=est)
    m = {"n_train": float(len(X_train)), "n_val": float(len(X_val))}
    m |= _metrics(model.predict_proba(X_train), y_train, "train")
    m |= _metrics(model.predict_proba(X_val), y_val, "val")
    model.metrics = m
    return model


def _fit_lightgbm(cfg: ModelConfig, X: np.ndarray, y: np.ndarray, seed: int) -> Any:
    lgb = _require("lightgbm")
    params = {"objective": "binary", "num_leaves": cfg.num_leaves, "learning_rate": cfg.boost_learning_rate,
              "min_data_in_leaf": cfg.min_child_samples, "seed": seed, "deterministic": True,
              "force_row_wise": True, "num_threads": 1, "verbose": -1, "feature_pre_filter": False}
    data = lgb.Dataset(X.reshape(len(X), -1), label=y, params={"verbose": -1})
    return lgb.train(params, data, num_boost_round=cfg.n_estimators)


def _fit_torch(cfg: ModelConfig, X: np.ndarray, y: np.ndarray, n_features: int, seed: int) -> Any:
    torch = _require("torch")
    from auraquant.cta.models.nets import build

    device = resolve_device(cfg.device)
    if device == "cuda":
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # needed by deterministic cuBLAS
    with _torch_deterministic(torch):
        torch.manual_seed(seed)
        net = build(cfg, n_features)
        flat = X.reshape(-1, n_features).astype(np.float64)
        sd = flat.std(axis=0)
        net.norm.mu.copy_(torch.from_numpy(flat.mean(axis=0).astype(np.float32)))
        net.norm.sd.copy_(torch.from_numpy(np.where(sd > 1e-12, sd, 1.0).astype(np.float32)))
        net.to(device)
        opt = torch.optim.Adam(net.parameters(), lr=cfg.learning_rate, weight_decay=cfg.weight_decay)
        loss_fn = torch.nn.BCEWithLogitsLoss()
        xs = torch.from_numpy(np.ascontiguousarray(X)).to(device)
        ys = torch.from_numpy(y).to(device)
        gen = torch.Generator().manual_seed(seed)
        net.train()
        for _ in range(cfg.epochs):
            order = torch.randperm(len(xs), generator=gen).to(device)
            for a in range(0, len(xs), cfg.batch_size):
                idx = order[a:a + cfg.batch_size]
                opt.zero_grad(set_to_none=True)
                loss = loss_fn(net(xs[idx]), ys[idx])
                loss.backward()
                opt.step()
        net.eval()
        net.to("cpu")
    return net


# -- remote execution ---------------------------------------------------------------------------------------
PAYLOAD_ARRAYS = ("X_train", "y_train", "X_val", "y_val")


def train_from_payload(payload: dict[str, Any], arrays: dict[str, np.ndarray]) -> dict[str, Any]:
    """Train one model from a JSON-able payload and named arrays; the entry point of a remote training job.

    Pure: no store, workspace, files or network; the same payload and arrays give the same answer.
    payload: {"config": ModelConfig as a dict, "seed": int}. arrays: `X_train`, `y_train`, `X_val`,
    `y_val` (see the module docstring; the validation pair may have 0 rows) and optionally `X_predict`
    (rows to predict with the fitted model, e.g. an audit sample).
    Returns a JSON-able dict: `config` (normalized dict), `config_id`, `seed`, `n_features`,
    `weights_sha256`, `weights_b64` (base64 of `weights_bytes()`), `metrics` (see `train_model`), and
    `predictions` (list of float probabilities of `X_predict`, or None). Rebuild the model locally with
    `model_from_result(result)`. Raises ValueError on a bad payload or arrays.
    """
    missing = [k for k in PAYLOAD_ARRAYS if k not in arrays]
    if missing:
        raise ValueError(f"train_from_payload: missing arrays {missing}")
    if "config" not in payload or "seed" not in payload:
        raise ValueError("train_from_payload: payload needs 'config' and 'seed'")
    cfg = ModelConfig.model_validate(payload["config"])
    seed = int(payload["seed"])
    m = train_model(cfg, arrays["X_train"], arrays["y_train"], arrays["X_val"], arrays["y_val"], seed=seed)
    pred = arrays.get("X_predict")
    data = m.weights_bytes()
    return {"config": cfg.model_dump(mode="json"), "config_id": cfg.config_id(), "seed": seed,
            "n_features": m.n_features, "weights_sha256": hashlib.sha256(data).hexdigest(),
            "weights_b64": base64.b64encode(data).decode("ascii"), "metrics": dict(m.metrics),
            "predictions": None if pred is None else [float(v) for v in m.predict_proba(pred)]}


def model_from_result(result: dict[str, Any]) -> TrainedModel:
    """The `TrainedModel` of a `train_from_payload` result; raises ValueError if the weights do not hash
    to the reported `weights_sha256` (a corrupted or substituted artifact)."""
    data = base64.b64decode(result["weights_b64"])
    got = hashlib.sha256(data).hexdigest()
    if got != result["weights_sha256"]:
        raise ValueError(f"weights hash {got} differs from the reported {result['weights_sha256']}")
    return TrainedModel.from_bytes(ModelConfig.model_validate(result["config"]), int(result["n_features"]), data,
                                   seed=int(result["seed"]), metrics=result.get("metrics"))
