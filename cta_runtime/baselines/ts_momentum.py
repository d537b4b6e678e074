"""Time-series momentum: the sign of close[i] / close[i - lookback] - 1 when its magnitude exceeds
`threshold` (state-style: a candidate on every bar while momentum persists)."""

from auraquant.cta.strategy.indicators import momentum_signs
from auraquant.cta.strategy.protocols import Param


class TsMomentum:
    name = "ts_momentum"
    params = {"lookback": Param(24 * 30, "int", 1, 100_000, "momentum lookback in bars"),
              "threshold": Param(0.0, "float", 0.0, 10.0, "minimum |return| for a candidate")}

    def candidates(self, bars, params):
        return momentum_signs(bars.close, int(params["lookback"]), float(params["threshold"]))


MODULE = TsMomentum()
