"""The light entry points the experiment layer calls for learned baselines (no torch, pandas-ta or
Optuna at import): which Specs need a per-window fit, and the fitted Specs of finished windows.
The fitting itself is `auraquant.cta.models.window`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from auraquant.cta.strategy.spec import Spec, apply_params

LEARNED_BASELINES = {"model_lstm": "lstm", "model_transformer": "transformer", "model_nbeats": "nbeats",
                     "model_lightgbm": "lightgbm"}

__all__ = ["LEARNED_BASELINES", "fitted_window_specs", "learned_kind", "needs_fit"]


def learned_kind(spec: Spec) -> str | None:
    """The model kind of a Spec's learned baseline, or None for any other baseline."""
    return LEARNED_BASELINES.get(spec.baseline.name)


def needs_fit(spec: Spec) -> bool:
    """A learned baseline whose model is not fitted yet (`model_key` 0): the window must fit it."""
    return learned_kind(spec) is not None and int(spec.baseline.params.get("model_key", 0)) == 0


def fitted_window_specs(spec: Spec, run_dir: Path, windows: list[Any]) -> dict[int, Spec]:
    """For a learned baseline: each finished window's Spec with its fitted model, the model reloaded from
    `run_dir/windows/wKKK_model/` (weights checked against their sha256) and registered in this process,
    so trials can be re-evaluated after the window (robustness, a resumed run, windows run on Dask).
    Empty for any other baseline."""
    if learned_kind(spec) is None:
        return {}
    from auraquant.cta.models.artifacts import ModelArtifactError, load_model, predictor
    from auraquant.cta.strategy import learned

    out: dict[int, Spec] = {}
    for w in windows:
        if not w.model:
            continue
        manifest, model = load_model(Path(run_dir) / "windows" / f"w{w.window.index:03d}_model")
        if manifest.model_key != w.model["model_key"] or manifest.weights_sha256 != w.model["weights_sha256"]:
            raise ModelArtifactError(f"window {w.window.index}: stored model differs from the window's result")
        learned.register(manifest.model_key, predictor(model, manifest.feature_set))
        out[w.window.index] = apply_params(spec, {"baseline.model_key": manifest.model_key})
    return out
