"""Stop and target at sl_mult / tp_mult x ATR(period) of the signal bar from the entry price
(0 disables either; no stop while ATR is still warming up)."""

from auraquant.cta.strategy.indicators import atr
from auraquant.cta.strategy.protocols import KernelPart, Param


class AtrStop:
    name = "atr_stop"
    params = {"period": Param(14, "int", 1, 10_000, "ATR period"),
              "sl_mult": Param(2.0, "float", 0.0, 100.0, "stop distance in ATRs"),
              "tp_mult": Param(0.0, "float", 0.0, 100.0, "target distance in ATRs")}

    def configure(self, bars, params):
        vals = {}
        if params["sl_mult"] > 0:
            vals["sl_atr"] = float(params["sl_mult"])
        if params["tp_mult"] > 0:
            vals["tp_atr"] = float(params["tp_mult"])
        return KernelPart(values=vals, series={"stop_atr": atr(bars.high, bars.low, bars.close,
                                                                 int(params["period"]))})


MODULE = AtrStop()
