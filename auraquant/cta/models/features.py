"""Model inputs from closed bars: a `FeatureSet` (returns, pandas-ta indicators, higher-timeframe
features), the feature matrix of a bars frame, and the lookback windows models are trained on.

Causality: row i of `feature_matrix` uses bars 0..i only. Returns and indicators are causal by
construction (pandas-ta indicators are); higher-timeframe values go through
`auraquant.cta.data.timeframes.align_to_lower`, which shows a higher bar to a lower one only after it
closed. Rows before every feature is defined (warm-up) are NaN; `windows` drops samples whose window
touches one.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, Field, model_validator

from auraquant.canonical import content_id
from auraquant.cta.data.features import FeatureError, compute_aligned
from auraquant.cta.data.timeframes import align_to_lower, resample, timeframe_ms

FEATURE_SET_KIND = "feature_set"


class IndicatorFeature(BaseModel):
    """A pandas-ta indicator (e.g. `rsi` with `{"length": 14}`), on the bars' timeframe or on `timeframe`.
    scale: `raw` (as computed) or `close` (divided by the bar's close: for price-level outputs such as
    EMA or ATR, which would otherwise not be comparable across price regimes)."""

    model_config = {"frozen": True, "extra": "forbid"}
    name: str
    params: dict[str, int | float | str] = Field(default_factory=dict)
    timeframe: str | None = None
    scale: Literal["raw", "close"] = "raw"


class HigherReturns(BaseModel):
    """Log returns over `horizons` bars of a higher timeframe, as visible at each lower bar's close."""

    model_config = {"frozen": True, "extra": "forbid"}
    timeframe: str
    horizons: list[int] = Field(min_length=1)


class FeatureSet(BaseModel):
    """Which features a learned baseline sees. Its id (`fset_…`) hashes the whole definition."""

    model_config = {"frozen": True, "extra": "forbid"}
    returns: list[int] = Field(default_factory=lambda: [1, 2, 4, 8, 24], description="log-return horizons")
    indicators: list[IndicatorFeature] = Field(default_factory=lambda: [
        IndicatorFeature(name="rsi", params={"length": 14}),
        IndicatorFeature(name="atr", params={"length": 14}, scale="close")])
    higher: list[HigherReturns] = Field(default_factory=lambda: [HigherReturns(timeframe="4h", horizons=[1, 6])])

    @model_validator(mode="after")
    def _positive(self) -> FeatureSet:
        hs = list(self.returns) + [h for x in self.higher for h in x.horizons]
        if any(h < 1 for h in hs):
            raise ValueError("return horizons must be >= 1")
        if not (self.returns or self.indicators or self.higher):
            raise ValueError("a feature set needs at least one feature")
        return self

    @property
    def id(self) -> str:
        return content_id("fset", self, 16)

    @property
    def key(self) -> int:
        """The feature set as a baseline parameter: the first 12 hex digits of its id as an integer
        (a Spec's module params are numbers). 0 names the default set."""
        return 0 if self == DEFAULT_FEATURE_SET else int(self.id.removeprefix("fset_")[:12], 16)


DEFAULT_FEATURE_SET = FeatureSet()


def timeframe_of(frame: pd.DataFrame) -> str:
    """The bars' timeframe (`1h`, `4h`, `15m`, `1d`) from the modal spacing of their open times."""
    t = frame["time"].to_numpy(dtype="datetime64[ms]").astype(np.int64)
    if len(t) < 2:
        raise ValueError("need at least 2 bars to infer a timeframe")
    values, counts = np.unique(np.diff(t), return_counts=True)
    ms = int(values[np.argmax(counts)])
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000)):
        if ms % size == 0:
            return f"{ms // size}{unit}"
    raise ValueError(f"bar spacing of {ms} ms is not a whole number of minutes")


def _log_return(close: np.ndarray, h: int) -> np.ndarray:
    out = np.full(close.shape[0], np.nan)
    if close.shape[0] > h:
        out[h:] = np.log(close[h:] / close[:-h])
    return out


def feature_matrix(frame: pd.DataFrame, fs: FeatureSet = DEFAULT_FEATURE_SET) -> pd.DataFrame:
    """One float64 column per feature, one row per bar of `frame` (time, OHLCV), NaN during warm-up.
    Higher-timeframe features that are not a whole multiple of the bars' timeframe raise ValueError."""
    frame = frame.reset_index(drop=True)
    tf = timeframe_of(frame)
    close = frame["close"].to_numpy(dtype=np.float64)
    cols: dict[str, np.ndarray] = {f"ret_{h}": _log_return(close, h) for h in fs.returns}
    for ind in fs.indicators:
        try:
            values = compute_aligned(frame, tf, ind.name, dict(ind.params), ind.timeframe)
        except FeatureError as exc:
            raise ValueError(str(exc)) from None
        for c in values.columns:
            v = values[c].to_numpy(dtype=np.float64)
            cols[f"{c}{'/close' if ind.scale == 'close' else ''}"] = v / close if ind.scale == "close" else v
    for hr in fs.higher:
        if timeframe_ms(hr.timeframe) <= timeframe_ms(tf) or timeframe_ms(hr.timeframe) % timeframe_ms(tf):
            raise ValueError(f"higher timeframe {hr.timeframe} is not a whole multiple above {tf}")
        higher = resample(frame, hr.timeframe, from_tf=tf)
        hc = higher["close"].to_numpy(dtype=np.float64)
        values = pd.DataFrame({"time": higher["time"]} | {f"ret_{h}@{hr.timeframe}": _log_return(hc, h)
                                                           for h in hr.horizons})
        aligned = align_to_lower(values, hr.timeframe, frame["time"], tf)
        cols.update({c: aligned[c].to_numpy(dtype=np.float64) for c in aligned.columns})
    out = pd.DataFrame(cols)
    return out.replace([np.inf, -np.inf], np.nan)


def windows(features: np.ndarray, lookback: int) -> tuple[np.ndarray, np.ndarray]:
    """(X, rows): X[k] is the (lookback, n_features) float32 block ending at row rows[k]; only rows whose
    whole block is finite are kept (rows ascending)."""
    f = np.asarray(features, dtype=np.float64)
    n = f.shape[0]
    if n < lookback:
        return np.zeros((0, lookback, f.shape[1]), dtype=np.float32), np.zeros(0, dtype=np.int64)
    ok_row = np.all(np.isfinite(f), axis=1).astype(np.int64)
    csum = np.concatenate([[0], np.cumsum(ok_row)])
    ends = np.arange(lookback - 1, n)
    full = (csum[ends + 1] - csum[ends + 1 - lookback]) == lookback
    rows = ends[full]
    view = np.lib.stride_tricks.sliding_window_view(f, lookback, axis=0)  # (n-L+1, F, L)
    X = np.ascontiguousarray(view[rows - (lookback - 1)].transpose(0, 2, 1)).astype(np.float32)
    return X, rows.astype(np.int64)


def describe(fs: FeatureSet, frame: pd.DataFrame) -> dict[str, Any]:
    """The feature set's id, definition and resolved column names on `frame`."""
    return {"feature_set_id": fs.id, "definition": fs.model_dump(mode="json"),
            "columns": list(feature_matrix(frame.head(min(len(frame), 64)), fs).columns)}
