"""The training API contract (auraquant/cta/models/training.py): determinism, serialization, reload."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("lightgbm")

from auraquant.cta.models.config import MODEL_KINDS, ModelConfig
from auraquant.cta.models.training import (
    TrainedModel,
    model_from_result,
    train_from_payload,
    train_model,
)


def _data(n: int = 600, lookback: int = 8, f: int = 3, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, lookback, f)).astype(np.float32)
    y = (X[:, -1, 0] + 0.3 * rng.normal(size=n) > 0).astype(np.int8)
    return X, y


@pytest.mark.parametrize("kind", MODEL_KINDS)
def test_same_seed_same_weights_and_exact_reload(kind: str) -> None:
    cfg = ModelConfig(kind=kind, lookback=8, hidden=8, epochs=4, batch_size=32, learning_rate=1e-2,
                      n_estimators=20)
    X, y = _data()
    a = train_model(cfg, X[:400], y[:400], X[400:], y[400:], seed=7)
    b = train_model(cfg, X[:400], y[:400], X[400:], y[400:], seed=7)
    assert a.weights_bytes() == b.weights_bytes()
    assert a.weights_sha256 == hashlib.sha256(a.weights_bytes()).hexdigest()
    back = TrainedModel.from_bytes(cfg, 3, a.weights_bytes())
    assert back.weights_sha256 == a.weights_sha256
    p = a.predict_proba(X[400:])
    assert p.dtype == np.float64 and p.shape == (200,) and np.all((p > 0) & (p < 1))
    assert np.array_equal(p, back.predict_proba(X[400:]))
    # the planted feature is learnable: every kind beats a coin on held-out rows
    assert a.metrics["val_accuracy"] > 0.6, a.metrics


def test_seed_changes_torch_weights() -> None:
    cfg = ModelConfig(kind="nbeats", lookback=8, hidden=8, epochs=1)
    X, y = _data()
    a = train_model(cfg, X, y, X[:0], y[:0], seed=1)
    b = train_model(cfg, X, y, X[:0], y[:0], seed=2)
    assert a.weights_sha256 != b.weights_sha256
    assert np.isnan(a.metrics["val_accuracy"])


def test_bad_inputs_are_refused() -> None:
    cfg = ModelConfig(kind="lstm", lookback=8)
    X, y = _data()
    with pytest.raises(ValueError, match="lookback"):
        train_model(ModelConfig(kind="lstm", lookback=4), X, y, X[:0], y[:0], seed=0)
    bad = X.copy()
    bad[3, 2, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        train_model(cfg, bad, y, X[:0], y[:0], seed=0)
    with pytest.raises(ValueError, match="labels 0 or 1"):
        train_model(cfg, X, y * 2, X[:0], y[:0], seed=0)
    m = train_model(ModelConfig(kind="nbeats", lookback=8, epochs=1), X, y, X[:0], y[:0], seed=0)
    with pytest.raises(ValueError, match="needs"):
        TrainedModel.from_bytes(m.config, 3, m.weights_bytes()[:-4])


def test_payload_round_trip_and_tamper_detection() -> None:
    X, y = _data()
    payload = {"config": {"kind": "lstm", "lookback": 8, "hidden": 4, "epochs": 1}, "seed": 5}
    arrays = {"X_train": X[:300], "y_train": y[:300], "X_val": X[300:], "y_val": y[300:], "X_predict": X[:5]}
    r1, r2 = train_from_payload(payload, arrays), train_from_payload(payload, arrays)
    assert r1 == r2
    m = model_from_result(r1)
    assert m.weights_sha256 == r1["weights_sha256"]
    assert np.array_equal(m.predict_proba(X[:5]), np.array(r1["predictions"]))
    with pytest.raises(ValueError, match="missing arrays"):
        train_from_payload(payload, {"X_train": X})
    tampered = dict(r1, weights_sha256="0" * 64)
    with pytest.raises(ValueError, match="differs"):
        model_from_result(tampered)


def test_gpu_matches_cpu_within_tolerance() -> None:
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    from auraquant.cta.models.training import GPU_TOLERANCE

    X, y = _data()
    for kind in ("lstm", "transformer", "nbeats"):
        cpu = train_model(ModelConfig(kind=kind, lookback=8, epochs=2), X, y, X[:0], y[:0], seed=3)
        gpu = train_model(ModelConfig(kind=kind, lookback=8, epochs=2, device="cuda"), X, y, X[:0], y[:0], seed=3)
        gpu2 = train_model(ModelConfig(kind=kind, lookback=8, epochs=2, device="cuda"), X, y, X[:0], y[:0], seed=3)
        assert gpu.weights_sha256 == gpu2.weights_sha256
        assert np.max(np.abs(cpu.predict_proba(X) - gpu.predict_proba(X))) <= GPU_TOLERANCE


def test_missing_ml_extra_is_one_clear_line(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from auraquant.cta.models.training import MissingDependency

    X, y = _data(50)
    for mod, kind in (("lightgbm", "lightgbm"), ("torch", "nbeats")):
        with monkeypatch.context() as m:
            m.setitem(sys.modules, mod, None)  # `import mod` now raises ImportError, as when not installed
            with pytest.raises(MissingDependency) as exc:
                train_model(ModelConfig(kind=kind, lookback=8), X, y, X[:0], y[:0], seed=0)
            assert str(exc.value) == (f"{mod} is not installed: learned baselines need the ml extra "
                                      "(pip install 'auraquant[ml]')")
