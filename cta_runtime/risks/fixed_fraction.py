"""Size every entry at `fraction` x NAV of notional (1.0 = fully invested, >1 = leveraged)."""

from auraquant.cta.strategy.protocols import KernelPart, Param


class FixedFraction:
    name = "fixed_fraction"
    params = {"fraction": Param(1.0, "float", 1e-6, 100.0, "entry notional as a fraction of NAV")}

    def configure(self, bars, params):
        return KernelPart(values={"fraction": float(params["fraction"])})


MODULE = FixedFraction()
