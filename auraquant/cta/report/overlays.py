"""The Spec's indicators on the price chart: price-scale lines of the built-in modules, recomputed from bars.

Only built-in modules are drawn (`strategy.loader.is_builtin`): agent-written modules never run in the
research process, and the report does not run them in a sandbox either; their names are listed as "not
drawn". Each entry of `_OVERLAYS` computes a built-in module's own price-scale lines with the same causal
kernels the module uses (`auraquant.cta.strategy.indicators`), from its resolved parameters (the module's
declared defaults overlaid with the Spec's values). Modules whose signals are not on the price scale
(momentum, ADX, volatility regimes, stops that depend on the position) have no entry and are named as such.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np

from auraquant.cta.strategy.indicators import ema, prior_max, prior_min, rolling_std, sma
from auraquant.cta.strategy.loader import is_builtin, load_module
from auraquant.cta.strategy.protocols import resolve_params
from auraquant.cta.strategy.spec import Spec

Lines = list[tuple[str, np.ndarray]]
_Ohlc = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def _ema_cross(p: Mapping[str, float], ohlc: _Ohlc) -> Lines:
    c = ohlc[3]
    return [("EMA fast", ema(c, int(p["fast"]))), ("EMA slow", ema(c, int(p["slow"])))]


def _bollinger(p: Mapping[str, float], ohlc: _Ohlc) -> Lines:
    c = ohlc[3]
    mid, sd = sma(c, int(p["period"])), rolling_std(c, int(p["period"]))
    k = float(p["k"])
    return [("Bollinger mid", mid), ("Bollinger upper", mid + k * sd), ("Bollinger lower", mid - k * sd)]


def _donchian(p: Mapping[str, float], ohlc: _Ohlc) -> Lines:
    n = int(p["period"])
    return [("Donchian high", prior_max(ohlc[1], n)), ("Donchian low", prior_min(ohlc[2], n))]


# (kind, module name) -> its price-scale lines; kinds as in `auraquant.cta.strategy.loader`.
_OVERLAYS: dict[tuple[str, str], Callable[[Mapping[str, float], _Ohlc], Lines]] = {
    ("baselines", "ema_cross"): _ema_cross,
    ("baselines", "bollinger_breakout"): _bollinger,
    ("baselines", "donchian_breakout"): _donchian,
}


def _modules(spec: Spec) -> list[tuple[str, str, Mapping[str, float]]]:
    refs = [("baselines", spec.baseline)] + [("filters", r) for r in spec.filters] + \
        [("executions", r) for r in spec.execution] + [("risks", r) for r in spec.risk]
    return [(kind, r.name, r.params) for kind, r in refs]


def spec_overlays(spec: Spec, open_: np.ndarray, high: np.ndarray, low: np.ndarray, close: np.ndarray
                  ) -> tuple[Lines, list[str]]:
    """(lines, notes): the price-scale lines of `spec`'s modules on these bars, and one note per module whose
    indicators are not drawn (with the reason)."""
    lines: Lines = []
    notes: list[str] = []
    ohlc = (open_, high, low, close)
    for kind, name, given in _modules(spec):
        fn = _OVERLAYS.get((kind, name))
        if not is_builtin(kind, name):
            notes.append(f"{name}: agent-written module, not run by the report (no lines drawn)")
        elif fn is None:
            if kind in ("baselines", "filters"):
                notes.append(f"{name}: no price-scale indicator")
        else:
            params = resolve_params(name, load_module(kind, name).params, given)
            lines += [(label, np.asarray(v, dtype=np.float64)) for label, v in fn(params, ohlc)]
    return lines, notes
