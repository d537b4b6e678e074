"""Indicators by name and params (pandas-ta), on the bars' own timeframe or on a higher one.

A higher-timeframe indicator is computed on resampled bars and then aligned with `align_to_lower`, so a value
reaches a lower bar only after the higher bar it came from has closed (module rule in `timeframes`).
Row i of the result belongs to bar i of the input and uses bars 0..i only (pandas-ta indicators are causal).
"""

from __future__ import annotations

import difflib
import inspect
from typing import Any

import pandas as pd
import pandas_ta as ta

from auraquant.cta.data.timeframes import align_to_lower, resample
from auraquant.errors import UserError

LIBRARY = f"pandas-ta {ta.version}"

_INPUTS = {"open_": "open", "open": "open", "high": "high", "low": "low", "close": "close", "volume": "volume"}


class FeatureError(UserError, ValueError):
    pass


def available_indicators() -> list[str]:
    return sorted({name for names in ta.Category.values() for name in names})


def _indicator_fn(name: str) -> Any:
    names = available_indicators()
    if name not in names:
        near = difflib.get_close_matches(name, names, n=3)
        hint = f"; did you mean {', '.join(near)}?" if near else ""
        raise FeatureError(f"unknown indicator {name!r}{hint}")
    return getattr(ta, name)


def compute(bars: pd.DataFrame, indicator: str, params: dict[str, Any] | None = None) -> pd.DataFrame:
    """Indicator columns for `bars` (same row count and order), named by pandas-ta (e.g. `EMA_20`)."""
    fn = _indicator_fn(indicator)
    sig = inspect.signature(fn)
    params = dict(params or {})
    bad = [k for k in params if k not in sig.parameters or k in _INPUTS]
    if bad:
        allowed = [p for p in sig.parameters if p not in _INPUTS and p != "kwargs"]
        raise FeatureError(f"{indicator}: unknown param(s) {bad}; accepted: {allowed}")
    frame = bars.reset_index(drop=True)
    args = {p: frame[col] for p, col in _INPUTS.items() if p in sig.parameters}
    out = fn(**args, **params)
    if out is None:
        raise FeatureError(f"{indicator}{params} returned nothing (too few bars for its lookback?)")
    if isinstance(out, pd.Series):
        out = out.to_frame(name=out.name or indicator)
    return out.reset_index(drop=True).astype("float64")


def compute_aligned(bars: pd.DataFrame, bars_tf: str, indicator: str, params: dict[str, Any] | None,
                    higher_tf: str | None) -> pd.DataFrame:
    """`compute` on `bars_tf`, or on `higher_tf` bars then aligned onto `bars` with closed-bar visibility."""
    if higher_tf is None or higher_tf == bars_tf:
        return compute(bars, indicator, params)
    higher = resample(bars, higher_tf, from_tf=bars_tf)
    values = compute(higher, indicator, params)
    values.insert(0, "time", higher["time"].to_numpy())
    aligned = align_to_lower(values, higher_tf, bars["time"], bars_tf)
    aligned.columns = [f"{c}@{higher_tf}" for c in aligned.columns]
    return aligned
