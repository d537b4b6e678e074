"""Time stop: exit (at the next fill) once the position has been held `bars` closed bars."""

from auraquant.cta.strategy.protocols import KernelPart, Param


class TimeStop:
    name = "time_stop"
    params = {"bars": Param(48, "int", 1, 10_000_000, "maximum holding period in bars")}

    def configure(self, bars, params):
        return KernelPart(values={"time_stop": float(params["bars"])})


MODULE = TimeStop()
