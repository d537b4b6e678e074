"""EMA cross: +1 on the bar where EMA(fast) crosses above EMA(slow), -1 where it crosses below.

Cross at bar i means ema_f[i-1] < ema_s[i-1] and ema_f[i] > ema_s[i] (strict on both sides, the same
rule as backtesting.py's `crossover`). Event-style: no candidate while the EMAs merely stay apart.
"""

import numpy as np

from auraquant.cta.strategy.indicators import ema
from auraquant.cta.strategy.protocols import Param


def cross_candidates(fast_line: np.ndarray, slow_line: np.ndarray) -> np.ndarray:
    out = np.zeros(fast_line.shape[0], dtype=np.int8)
    f0, s0, f1, s1 = fast_line[:-1], slow_line[:-1], fast_line[1:], slow_line[1:]
    out[1:][(f0 < s0) & (f1 > s1)] = 1
    out[1:][(f0 > s0) & (f1 < s1)] = -1
    return out


class EmaCross:
    name = "ema_cross"
    params = {"fast": Param(12, "int", 1, 10_000, "fast EMA period"),
              "slow": Param(26, "int", 2, 10_000, "slow EMA period")}

    def candidates(self, bars, params):
        return cross_candidates(ema(bars.close, int(params["fast"])), ema(bars.close, int(params["slow"])))


MODULE = EmaCross()
