"""Drawdown breaker: when NAV at a bar close is `max_dd` or more below its running peak, reject new
entries for `halt_bars` bars; then the peak resets to the NAV at that bar (open positions keep their
exits)."""

from auraquant.cta.strategy.protocols import KernelPart, Param


class DrawdownBreaker:
    name = "drawdown_breaker"
    params = {"max_dd": Param(0.2, "float", 1e-6, 1.0, "drawdown fraction that trips the breaker"),
              "halt_bars": Param(24 * 7, "int", 1, 10_000_000, "bars without new entries once tripped")}

    def configure(self, bars, params):
        return KernelPart(values={"dd_max": float(params["max_dd"]), "dd_halt": float(params["halt_bars"])})


MODULE = DrawdownBreaker()
