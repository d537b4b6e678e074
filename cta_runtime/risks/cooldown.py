"""Cooldown after a loss: reject entries decided fewer than `bars` bars after a losing exit's bar."""

from auraquant.cta.strategy.protocols import KernelPart, Param


class Cooldown:
    name = "cooldown"
    params = {"bars": Param(24, "int", 1, 10_000_000, "bars to wait after a losing trade")}

    def configure(self, bars, params):
        return KernelPart(values={"cooldown": float(params["bars"])})


MODULE = Cooldown()
