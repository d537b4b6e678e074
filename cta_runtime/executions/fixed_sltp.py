"""Fixed stop-loss and take-profit as fractions of the entry market price (0 disables either)."""

from auraquant.cta.strategy.protocols import KernelPart, Param


class FixedSlTp:
    name = "fixed_sltp"
    params = {"sl_pct": Param(0.02, "float", 0.0, 0.99, "stop distance as a fraction of entry price"),
              "tp_pct": Param(0.0, "float", 0.0, 100.0, "target distance as a fraction of entry price")}

    def configure(self, bars, params):
        vals = {}
        if params["sl_pct"] > 0:
            vals["sl_pct"] = float(params["sl_pct"])
        if params["tp_pct"] > 0:
            vals["tp_pct"] = float(params["tp_pct"])
        return KernelPart(values=vals)


MODULE = FixedSlTp()
