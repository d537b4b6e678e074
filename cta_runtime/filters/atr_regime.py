"""Volatility regime: allow entries (both directions) only while ATR(period)/close is inside
[min_pct, max_pct]; NaN ATR (warm-up) rejects."""

from auraquant.cta.strategy.indicators import atr
from auraquant.cta.strategy.protocols import Param


class AtrRegime:
    name = "atr_regime"
    reject_reason = "ATR/close outside [min_pct, max_pct]"
    params = {"period": Param(14, "int", 1, 10_000, "ATR period"),
              "min_pct": Param(0.0, "float", 0.0, 1.0, "lowest allowed ATR/close"),
              "max_pct": Param(1.0, "float", 0.0, 10.0, "highest allowed ATR/close")}

    def allow(self, bars, params):
        r = atr(bars.high, bars.low, bars.close, int(params["period"])) / bars.close
        ok = (r >= float(params["min_pct"])) & (r <= float(params["max_pct"]))
        return ok, ok.copy()


MODULE = AtrRegime()
