"""The learned baseline as a kernel baseline: thresholding the registered model's probabilities, no
candidates before fitting, a clear error for an unknown key; the model tools through the registry."""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
import pandas as pd
import pytest

from auraquant.cta.strategy import learned
from auraquant.cta.strategy.bars import bars_from_frame
from auraquant.cta.strategy.loader import load_module
from auraquant.cta.strategy.protocols import resolve_params


def _bars(n: int = 50):
    c = 100 + np.arange(n, dtype=float)
    return bars_from_frame(pd.DataFrame({"time": pd.date_range("2024-01-01", periods=n, freq="h", tz="UTC"),
                                         "open": c, "high": c + 1, "low": c - 1, "close": c, "volume": 1.0}))


@pytest.mark.parametrize("name", ["model_lstm", "model_transformer", "model_nbeats", "model_lightgbm"])
def test_threshold_maps_probabilities_to_candidates(name: str) -> None:
    mod = load_module("baselines", name)
    bars = _bars()
    assert not mod.candidates(bars, resolve_params(name, mod.params, {})).any()  # not fitted: no candidates
    p = np.full(len(bars), np.nan)
    p[10:] = np.linspace(0.3, 0.7, len(bars) - 10)
    calls: list[int] = []

    def predictor(b: Any) -> np.ndarray:
        calls.append(len(b))
        return p

    learned.register(424242, predictor)
    params = resolve_params(name, mod.params, {"model_key": 424242, "threshold": 0.6})
    out = mod.candidates(bars, params)
    assert out.dtype == np.int8
    assert np.array_equal(out, np.where(p > 0.6, 1, np.where(p < 0.4, -1, 0)))  # NaN warm-up -> 0
    mod.candidates(bars, {**params, "threshold": 0.55})
    assert calls == [len(bars)]  # the probabilities are computed once per Bars (a threshold sweep reuses them)


def test_unknown_key_is_a_clear_error() -> None:
    mod = load_module("baselines", "model_nbeats")
    with pytest.raises(learned.LearnedModelMissing, match="fitted per walk-forward"):
        mod.candidates(_bars(), resolve_params("model_nbeats", mod.params, {"model_key": 99}))
    with pytest.raises(ValueError):
        learned.register(0, lambda b: np.zeros(len(b)))


def test_wrong_length_predictor_is_refused() -> None:
    learned.register(777, lambda b: np.zeros(3))
    with pytest.raises(ValueError, match=r"\(3,\) probabilities for 50 bars"):
        learned.predict(777, _bars())


# -- tools through the registry ---------------------------------------------------------------------------------
@pytest.fixture
def tool_ctx(workspace):
    from auraquant.cta.tools import build_registry, research_context

    return build_registry(), research_context(workspace, session_id="models-unit", model_id="test-model"), workspace


def _call(reg: Any, ctx: Any, name: str, args: dict[str, Any]) -> Any:
    return asyncio.run(reg.call(name, args, ctx))


def test_feature_set_put_valid_and_invalid(tool_ctx) -> None:
    reg, ctx, ws = tool_ctx
    out = _call(reg, ctx, "feature_set_put", {"returns": [1, 6], "indicators": [{"name": "rsi", "params": {"length": 7}}],
                                               "higher": [{"timeframe": "4h", "horizons": [1]}]})
    default = _call(reg, ctx, "feature_set_put", {})
    assert default.ok and default.value.key == 0  # every field left out: the default set
    assert out.ok, out.content
    v = out.value
    assert v.feature_set_id.startswith("fset_") and v.key > 0 and v.columns == ["ret_1", "ret_6", "RSI_7", "ret_1@4h"]
    assert (ws.runtime_dir / "feature_sets" / f"{v.feature_set_id}.json").is_file()
    from auraquant.cta.models.window import feature_set_for

    assert feature_set_for(v.key, ws.runtime_dir).id == v.feature_set_id
    bad = _call(reg, ctx, "feature_set_put", {"indicators": [{"name": "not_an_indicator"}]})
    assert not bad.ok and "unknown indicator" in bad.content
    bad2 = _call(reg, ctx, "feature_set_put", {"returns": [0]})
    assert not bad2.ok


def test_model_show_unknown_id_and_model_train_bad_input(tool_ctx) -> None:
    reg, ctx, _ = tool_ctx
    out = _call(reg, ctx, "model_show", {"model_id": "model_doesnotexist"})
    assert not out.ok and "no model model_doesnotexist" in out.content
    out = _call(reg, ctx, "model_train", {"data_version_id": "dv_nope", "kind": "lstm"})
    assert not out.ok and "data_version" in out.content
    out = _call(reg, ctx, "model_train", {"data_version_id": "dv_nope", "kind": "svm"})
    assert not out.ok


@pytest.mark.slow
def test_model_train_then_show_reloads_exactly(tool_ctx) -> None:
    pytest.importorskip("torch")
    reg, ctx, ws = tool_ctx
    dv = _call(reg, ctx, "data_synth", {"n": 1500, "seed": 4})
    assert dv.ok, dv.content
    args = {"data_version_id": dv.value.version.id, "kind": "lightgbm", "train_bars": 800, "validation_bars": 200,
            "params": {"horizon": 2, "lookback": 4, "hp_trials": 2}}
    a = _call(reg, ctx, "model_train", args)
    assert a.ok, a.content
    b = _call(reg, ctx, "model_train", args)
    assert b.value.model_id == a.value.model_id and b.value.weights_sha256 == a.value.weights_sha256
    shown = _call(reg, ctx, "model_show", {"model_id": a.value.model_id})
    assert shown.ok and shown.value.details["reload_identical"] is True
    assert shown.value.details["hp_trials"] == 2 and shown.value.details["n_features"] == 9
    # tampering with the weights is detected
    d = ws.artifacts / "models" / a.value.model_id
    (d / "weights.bin").write_bytes((d / "weights.bin").read_bytes() + b" ")
    bad = _call(reg, ctx, "model_show", {"model_id": a.value.model_id})
    assert not bad.ok and "differs from the manifest" in bad.content


@pytest.mark.parametrize("kind", ["nbeats", "lstm", "transformer", "lightgbm"])
def test_fitted_predictor_is_causal_on_prefixes(kind: str) -> None:
    """A fitted model's probability at bar i is the same whether later bars exist or not."""
    pytest.importorskip("torch")
    from auraquant.cta.models.artifacts import frame_of, probabilities
    from auraquant.cta.models.config import ModelConfig
    from auraquant.cta.models.features import DEFAULT_FEATURE_SET, feature_matrix, windows
    from auraquant.cta.models.training import train_model

    rng = np.random.default_rng(5)
    n = 400
    c = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    o = np.r_[c[0], c[:-1]]
    frame = pd.DataFrame({"time": pd.date_range("2024-01-01", periods=n, freq="h", tz="UTC"), "open": o,
                          "high": np.maximum(o, c) * 1.002, "low": np.minimum(o, c) * 0.998, "close": c,
                          "volume": 1.0})
    X, _ = windows(feature_matrix(frame, DEFAULT_FEATURE_SET).to_numpy(), 4)
    y = (rng.random(len(X)) > 0.5).astype(np.int8)
    model = train_model(ModelConfig(kind=kind, lookback=4, hidden=8, epochs=1, n_estimators=10), X, y, X[:0], y[:0],
                        seed=0)
    full = probabilities(model, DEFAULT_FEATURE_SET, frame)
    assert np.isfinite(full[-100:]).all()
    bars = bars_from_frame(frame)
    for k in (60, 151, 152, 299, 400):
        part = probabilities(model, DEFAULT_FEATURE_SET, frame_of(bars.head(k)))
        assert np.array_equal(part, full[:k], equal_nan=True), k


def test_model_cli_errors_are_one_line(workspace) -> None:
    import json

    from typer.testing import CliRunner

    from auraquant.cli import app

    res = CliRunner().invoke(app, ["model", "show", "model_nope", "-w", str(workspace.root), "--json"])
    assert res.exit_code == 1
    err = json.loads(res.output)
    assert "no model model_nope" in err["error"] and err["kind"] == "ModelNotFound"
    res = CliRunner().invoke(app, ["model", "train", "--data", "dv_x", "--kind", "svm", "-w", str(workspace.root)])
    assert res.exit_code == 1 and "Traceback" not in res.output
    bad = workspace.root / "fs.json"
    bad.write_text('{"returns": [0]}')
    res = CliRunner().invoke(app, ["model", "feature-set", str(bad), "-w", str(workspace.root), "--json"])
    assert res.exit_code == 1 and json.loads(res.output)["error"]


def test_single_backtest_of_an_unfitted_model_is_refused(tool_ctx) -> None:
    reg, ctx, _ = tool_ctx
    dv = _call(reg, ctx, "data_synth", {"n": 600, "seed": 2}).value.version.id
    spec = {"name": "m", "baseline": {"name": "model_nbeats"},
            "search_space": {"baseline.threshold": {"kind": "float", "low": 0.5, "high": 0.6}}}
    spec_id = _call(reg, ctx, "spec_put", {"spec": spec, "data_version_id": dv}).value.spec_id
    for name, args in (("backtest_run", {"spec_id": spec_id}),
                       ("sweep_run", {"spec_id": spec_id, "param_sets": [{"baseline.threshold": 0.55}]})):
        out = _call(reg, ctx, name, args)
        assert not out.ok and "missing step 'walk-forward fit'" in out.content and "experiment_run" in out.content
