"""A deliberately leaky baseline (test fixture): its candidate at bar i reads close[i + 1]."""

import numpy as np

from auraquant.cta.strategy.protocols import Param


class PeekAhead:
    name = "peek_ahead"
    params = {"start": Param(50, "int", 0, 10**9, "first bar that peeks")}

    def candidates(self, bars, params):
        c = bars.close
        out = np.zeros(c.shape[0], dtype=np.int8)
        nxt = np.r_[c[1:], np.nan]
        s = int(params["start"])
        out[s:][nxt[s:] > c[s:]] = 1
        out[s:][nxt[s:] < c[s:]] = -1
        return out


MODULE = PeekAhead()
