"""Model tools: feature sets, one-off model training, and fitted models (learned baselines).

A learned baseline runs like any other: `spec_put` with baseline `model_lstm`, `model_transformer`,
`model_nbeats` or `model_lightgbm` and a search space over `baseline.threshold`, then `experiment_run`.
Each walk-forward window fits its own model on its train segment (purged, embargoed by the label
horizon, hyperparameters searched on validation); its id, weights sha256 and data hash are in the
run's windows, and `model_show` reloads any of them and checks it re-predicts bit for bit.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from aura.tools import ToolFailure, tool
from auraquant.cta.models.features import FeatureSet, HigherReturns, IndicatorFeature
from auraquant.cta.tools.deps import Ctx
from auraquant.cta.tools.preflight import qualified_data

CAT = "experiment"


class FeatureSetOut(BaseModel):
    feature_set_id: str
    key: int = Field(description="value of a model baseline's `features` parameter")
    columns: list[str]
    definition: dict[str, Any]


class ModelOut(BaseModel):
    model_id: str
    kind: str
    weights_sha256: str
    train_data_hash: str
    feature_set_id: str
    details: dict[str, Any]


def refuse_unfitted(spec: Any) -> None:
    """A single backtest or sweep of an unfitted learned baseline would silently trade nothing (it has no
    training window): refuse it, naming the tool that fits it."""
    from auraquant.cta.models.hooks import needs_fit

    if needs_fit(spec):
        raise ToolFailure(f"missing step 'walk-forward fit': {spec.baseline.name} is fitted per walk-forward "
                          "window on that window's train segment; a single backtest or sweep has none "
                          "-> call experiment_run")


def _model_errors(fn: Any) -> Any:
    from auraquant.cta.models.artifacts import ModelArtifactError, ModelNotFound
    from auraquant.cta.models.training import MissingDependency
    from auraquant.cta.models.window import ModelWindowError

    try:
        return fn()
    except (ModelNotFound, ModelArtifactError, MissingDependency, ModelWindowError, ValueError) as exc:
        raise ToolFailure(str(exc)) from None


@tool(category=CAT, timeout_s=60)
def feature_set_put(ctx: Ctx, returns: list[int] | None = Field(None, max_length=32),
                    indicators: list[IndicatorFeature] | None = Field(None, max_length=32),
                    higher: list[HigherReturns] | None = Field(None, max_length=8)) -> FeatureSetOut:
    """Store the features a learned baseline sees: log returns over `returns` bars, pandas-ta `indicators`
    (name, params, optional higher `timeframe`, `scale` raw|close) and `higher` timeframe returns (shown
    only once the higher bar has closed). All from closed bars. A field left out keeps the default set's
    value (returns 1, 2, 4, 8, 24; RSI 14 and ATR 14 / close; 4h returns over 1 and 6 bars); pass [] to
    drop it. Returns the set's id and its `key`: put the key in the model baseline's `features` param
    (0 = the default set)."""
    from auraquant.cta.models.service import put_feature_set

    given = {k: v for k, v in (("returns", returns), ("indicators", indicators), ("higher", higher)) if v is not None}
    fs = _model_errors(lambda: FeatureSet(**given))
    return FeatureSetOut(**_model_errors(lambda: put_feature_set(ctx.deps.workspace, fs)))


def _out(d: dict[str, Any]) -> ModelOut:
    return ModelOut(model_id=d["model_id"], kind=d["kind"], weights_sha256=d["weights_sha256"],
                    train_data_hash=d["train_data_hash"], feature_set_id=d["feature_set_id"], details=d)


@tool(category=CAT, timeout_s=600, preflight=[qualified_data()])
def model_train(ctx: Ctx, data_version_id: str, kind: Literal["lstm", "transformer", "nbeats", "lightgbm"],
                params: dict[str, int | float] = Field(default_factory=dict),
                train_bars: int = Field(2000, ge=50, le=200_000), validation_bars: int = Field(500, ge=20, le=100_000),
                seed: int = 0) -> ModelOut:
    """Train one model outside a walk-forward, to inspect what a learned baseline would learn: on the last
    train_bars (+ label-horizon embargo) + validation_bars bars before the holdout, hyperparameters searched
    on validation (`params`: the model baseline's params, e.g. horizon, lookback, hidden, epochs, hp_trials,
    features). Evidence for a strategy still comes from experiment_run, never from this one fit."""
    from auraquant.cta.models.service import train_on_data

    return _out(_model_errors(lambda: train_on_data(ctx.deps.workspace, data_version_id, kind, params,
                                                    train_bars=train_bars, validation_bars=validation_bars,
                                                    seed=seed)))


@tool(category=CAT, timeout_s=120)
def model_show(ctx: Ctx, model_id: str, verify: bool = True) -> ModelOut:
    """A fitted model (from a run's window or model_train): config, feature columns, training data hash,
    weights sha256, validation metrics, its hyperparameter trials, file sha256s; with `verify` the weights
    are reloaded from their bytes and must re-predict the stored reference bit for bit (`reload_identical`)."""
    from auraquant.cta.models.service import model_show as show

    return _out(_model_errors(lambda: show(ctx.deps.workspace, model_id, verify=verify)))


TOOLS = [feature_set_put, model_train, model_show]
