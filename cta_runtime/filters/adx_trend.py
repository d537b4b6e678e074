"""Trend strength: allow entries (both directions) only while ADX(period) >= min_adx; NaN rejects."""

from auraquant.cta.strategy.indicators import adx
from auraquant.cta.strategy.protocols import Param


class AdxTrend:
    name = "adx_trend"
    reject_reason = "ADX below min_adx"
    params = {"period": Param(14, "int", 2, 1_000, "ADX period"),
              "min_adx": Param(20.0, "float", 0.0, 100.0, "minimum ADX")}

    def allow(self, bars, params):
        ok = adx(bars.high, bars.low, bars.close, int(params["period"])) >= float(params["min_adx"])
        return ok, ok.copy()


MODULE = AdxTrend()
