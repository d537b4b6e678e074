"""Donchian breakout: +1 when close > the highest high of the previous `period` bars, -1 when
close < the lowest low of the previous `period` bars (state-style: repeats while the breakout holds)."""

import numpy as np

from auraquant.cta.strategy.indicators import prior_max, prior_min
from auraquant.cta.strategy.protocols import Param


class DonchianBreakout:
    name = "donchian_breakout"
    params = {"period": Param(20, "int", 1, 10_000, "channel lookback in bars")}

    def candidates(self, bars, params):
        p = int(params["period"])
        out = np.zeros(len(bars), dtype=np.int8)
        out[bars.close > prior_max(bars.high, p)] = 1
        out[bars.close < prior_min(bars.low, p)] = -1
        return out


MODULE = DonchianBreakout()
