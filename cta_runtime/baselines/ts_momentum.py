"""Time-series momentum: the sign of close[i] / close[i - lookback] - 1 when its magnitude exceeds
`threshold` (state-style: a candidate on every bar while momentum persists)."""

import numpy as np

from auraquant.cta.strategy.protocols import Param


class TsMomentum:
    name = "ts_momentum"
    params = {"lookback": Param(24 * 30, "int", 1, 100_000, "momentum lookback in bars"),
              "threshold": Param(0.0, "float", 0.0, 10.0, "minimum |return| for a candidate")}

    def candidates(self, bars, params):
        lb = int(params["lookback"])
        c = bars.close
        out = np.zeros(c.shape[0], dtype=np.int8)
        if c.shape[0] > lb:
            mom = c[lb:] / c[:-lb] - 1.0
            thr = float(params["threshold"])
            out[lb:][mom > thr] = 1
            out[lb:][mom < -thr] = -1
        return out


MODULE = TsMomentum()
