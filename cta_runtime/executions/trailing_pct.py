"""Percent trailing stop: `pct` below the best price since entry (above, for shorts); only tightens."""

from auraquant.cta.strategy.protocols import KernelPart, Param


class TrailingPct:
    name = "trailing_pct"
    params = {"pct": Param(0.05, "float", 1e-6, 0.99, "trail distance as a fraction of the best price")}

    def configure(self, bars, params):
        return KernelPart(values={"trail_pct": float(params["pct"])})


MODULE = TrailingPct()
