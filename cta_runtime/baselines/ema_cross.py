"""EMA cross: +1 on the bar where EMA(fast) crosses above EMA(slow), -1 where it crosses below.

Cross at bar i means ema_f[i-1] < ema_s[i-1] and ema_f[i] > ema_s[i] (strict on both sides, the same
rule as backtesting.py's `crossover`). Event-style: no candidate while the EMAs merely stay apart.
Each EMA is cached on the bars, so a sweep over (fast, slow) pairs computes each period once.
"""

from auraquant.cta.strategy.indicators import crossings, ema
from auraquant.cta.strategy.protocols import Param


class EmaCross:
    name = "ema_cross"
    params = {"fast": Param(12, "int", 1, 10_000, "fast EMA period"),
              "slow": Param(26, "int", 2, 10_000, "slow EMA period")}

    def candidates(self, bars, params):
        return crossings(bars.cached(ema, bars.close, int(params["fast"])),
                         bars.cached(ema, bars.close, int(params["slow"])))


MODULE = EmaCross()
