"""Chandelier (ATR trailing) stop: best price since entry minus mult x ATR(period) of the latest
closed bar (plus, for shorts); only tightens."""

from auraquant.cta.strategy.indicators import atr
from auraquant.cta.strategy.protocols import KernelPart, Param


class Chandelier:
    name = "chandelier"
    params = {"period": Param(22, "int", 1, 10_000, "ATR period"),
              "mult": Param(3.0, "float", 1e-6, 100.0, "trail distance in ATRs")}

    def configure(self, bars, params):
        return KernelPart(values={"trail_atr": float(params["mult"])},
                          series={"trail_atr": atr(bars.high, bars.low, bars.close, int(params["period"]))})


MODULE = Chandelier()
