"""The autopilot's research vocabulary: baseline families (alpha hypotheses), the structure options it may
swap one at a time, and external CTA recipes it imports after repeated dead ends.

Every entry names built-in modules of `cta_runtime/` and parameter paths of `Spec.search_space`; nothing
here computes anything. Ranges stay inside the modules' declared bounds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

Space = dict[str, dict[str, Any]]


def _int(low: int, high: int) -> dict[str, Any]:
    return {"kind": "int", "low": low, "high": high}


def _float(low: float, high: float) -> dict[str, Any]:
    return {"kind": "float", "low": low, "high": high}


@dataclass(frozen=True)
class Family:
    """An alpha hypothesis: a baseline module, why it should work, and its parameter search space."""

    name: str
    baseline: str
    hypothesis: str
    space: Space
    defaults: dict[str, int | float] = field(default_factory=dict)


FAMILIES: tuple[Family, ...] = (
    Family("ema-cross", "ema_cross", "trends persist: a fast EMA crossing a slow EMA marks a new trend",
           {"baseline.fast": _int(4, 48), "baseline.slow": _int(50, 300)}, {"fast": 12, "slow": 96}),
    Family("donchian", "donchian_breakout", "breakouts of the recent range start trends (turtle-style)",
           {"baseline.period": _int(12, 300)}, {"period": 48}),
    Family("ts-momentum", "ts_momentum", "time-series momentum: past return sign predicts the next",
           {"baseline.lookback": _int(24, 24 * 60), "baseline.threshold": _float(0.0, 0.05)},
           {"lookback": 24 * 14, "threshold": 0.0}),
    Family("bollinger", "bollinger_breakout", "a close outside a volatility band starts a trend",
           {"baseline.period": _int(12, 240), "baseline.k": _float(1.0, 3.0)}, {"period": 48, "k": 2.0}),
)


@dataclass(frozen=True)
class Option:
    """One module choice for one structural slot, with the params it adds to the search space."""

    slot: str  # "filters" | "execution" | "risk"
    label: str
    modules: tuple[tuple[str, dict[str, int | float]], ...]  # (module name, fixed params)
    space: Space = field(default_factory=dict)


#: Slot options, the first of each slot being the default structure of a new family.
OPTIONS: dict[str, tuple[Option, ...]] = {
    "execution": (
        Option("execution", "trailing 5%", (("trailing_pct", {"pct": 0.05}),)),
        Option("execution", "ATR stop", (("atr_stop", {"period": 14}),),
               {"execution.atr_stop.sl_mult": _float(1.0, 6.0)}),
        Option("execution", "chandelier", (("chandelier", {"period": 22}),),
               {"execution.chandelier.mult": _float(1.5, 6.0)}),
        Option("execution", "trailing (searched)", (("trailing_pct", {}),),
               {"execution.trailing_pct.pct": _float(0.01, 0.2)}),
        Option("execution", "time stop", (("time_stop", {}),), {"execution.time_stop.bars": _int(24, 24 * 20)}),
    ),
    "filters": (
        Option("filters", "no filter", ()),
        Option("filters", "ADX trend filter", (("adx_trend", {"period": 14}),),
               {"filters.adx_trend.min_adx": _float(10.0, 35.0)}),
        Option("filters", "daily trend filter", (("htf_trend", {"hours": 24}),),
               {"filters.htf_trend.period": _int(5, 60)}),
        Option("filters", "ATR regime filter", (("atr_regime", {"period": 48, "min_pct": 0.0}),),
               {"filters.atr_regime.max_pct": _float(0.004, 0.05)}),
    ),
    "risk": (
        Option("risk", "fixed fraction", (("fixed_fraction", {"fraction": 1.0}),)),
        Option("risk", "vol target", (("vol_target", {"lookback": 24 * 30}), ("leverage_cap", {"max_leverage": 2.0})),
               {"risk.vol_target.target_vol": _float(0.1, 0.6)}),
        Option("risk", "drawdown breaker", (("fixed_fraction", {"fraction": 1.0}), ("drawdown_breaker", {})),
               {"risk.drawdown_breaker.max_dd": _float(0.05, 0.25)}),
        Option("risk", "loss cooldown", (("fixed_fraction", {"fraction": 1.0}), ("cooldown", {})),
               {"risk.cooldown.bars": _int(6, 24 * 7)}),
    ),
}
SLOTS = ("execution", "filters", "risk")


@dataclass(frozen=True)
class External:
    """A published CTA recipe, expressed with built-in modules."""

    name: str
    family: str
    source: str
    structure: dict[str, int]  # slot -> index into OPTIONS[slot]
    space: Space = field(default_factory=dict)


EXTERNAL: tuple[External, ...] = (
    External("turtle breakout", "donchian", "Dennis/Eckhardt turtle rules: 20-55 bar breakout, 2N ATR stop",
             {"execution": 1, "filters": 0, "risk": 1}, {"baseline.period": _int(20, 240)}),
    External("time-series momentum with volatility targeting", "ts-momentum",
             "Moskowitz, Ooi & Pedersen (2012): sign of past return, positions scaled to a volatility target",
             {"execution": 2, "filters": 0, "risk": 1}, {"baseline.lookback": _int(24 * 7, 24 * 60)}),
    External("dual moving average with higher-timeframe filter", "ema-cross",
             "classic dual-MA trend following, entries only with the daily trend",
             {"execution": 2, "filters": 2, "risk": 1}, {}),
    External("Bollinger breakout with ADX", "bollinger", "volatility breakout confirmed by trend strength",
             {"execution": 1, "filters": 1, "risk": 0}, {}),
)


def family(name: str) -> Family:
    for f in FAMILIES:
        if f.name == name:
            return f
    raise KeyError(name)


@dataclass(frozen=True)
class NewModule:
    """A hypothesis no built-in module expresses: the autopilot writes it (module_write validates it: code
    guard, Protocol, output contract, look-ahead check) and then tests it like any family."""

    kind: str
    module: str
    family: Family
    source: str


_KELTNER = '''"""Keltner breakout: a close that leaves an ATR envelope around its EMA starts a trend (a volatility-scaled
breakout, written by the offline autopilot).

Candidate at bar i: +1 on the bar the close crosses above EMA(period) + mult x ATR(period), -1 on the bar it
crosses below EMA(period) - mult x ATR(period), else 0; uses bars 0..i only.
"""

import numpy as np

from auraquant.cta.strategy.indicators import atr, ema
from auraquant.cta.strategy.protocols import Param


class KeltnerBreakout:
    name = "keltner_breakout"
    params = {"period": Param(20, "int", 2, 10_000, "EMA and ATR lookback in bars"),
              "mult": Param(2.0, "float", 0.1, 10.0, "envelope width in ATRs")}

    def candidates(self, bars, params):
        p, k = int(params["period"]), float(params["mult"])
        mid = ema(bars.close, p)
        width = k * atr(bars.high, bars.low, bars.close, p)
        above = np.nan_to_num(bars.close - (mid + width)) > 0
        below = np.nan_to_num(bars.close - (mid - width)) < 0
        out = np.zeros(len(bars), dtype=np.int8)
        out[1:][above[1:] & ~above[:-1]] = 1
        out[1:][below[1:] & ~below[:-1]] = -1
        return out


MODULE = KeltnerBreakout()
'''

WRITTEN: tuple[NewModule, ...] = (
    NewModule("baselines", "keltner_breakout",
              Family("keltner", "keltner_breakout", "a close leaving an ATR envelope around its EMA starts a trend",
                     {"baseline.period": _int(10, 200), "baseline.mult": _float(0.5, 4.0)},
                     {"period": 48, "mult": 2.0}),
              _KELTNER),
)
