"""Cap any entry's notional at `max_leverage` x NAV (applied after the sizing module)."""

from auraquant.cta.strategy.protocols import KernelPart, Param


class LeverageCap:
    name = "leverage_cap"
    params = {"max_leverage": Param(1.0, "float", 1e-6, 100.0, "maximum entry notional / NAV")}

    def configure(self, bars, params):
        return KernelPart(values={"leverage_cap": float(params["max_leverage"])})


MODULE = LeverageCap()
