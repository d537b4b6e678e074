"""Bollinger breakout: +1 on the bar where close crosses above SMA + k*std, -1 where it crosses below
SMA - k*std (event-style; std is the sample std of the same `period` closes)."""

import numpy as np

from auraquant.cta.strategy.indicators import rolling_std, sma
from auraquant.cta.strategy.protocols import Param


class BollingerBreakout:
    name = "bollinger_breakout"
    params = {"period": Param(20, "int", 2, 10_000, "band lookback"),
              "k": Param(2.0, "float", 0.0, 10.0, "band width in standard deviations")}

    def candidates(self, bars, params):
        p, k = int(params["period"]), float(params["k"])
        c = bars.close
        mid, sd = sma(c, p), rolling_std(c, p)
        up, dn = mid + k * sd, mid - k * sd
        out = np.zeros(c.shape[0], dtype=np.int8)
        out[1:][(c[:-1] <= up[:-1]) & (c[1:] > up[1:])] = 1
        out[1:][(c[:-1] >= dn[:-1]) & (c[1:] < dn[1:])] = -1
        return out


MODULE = BollingerBreakout()
