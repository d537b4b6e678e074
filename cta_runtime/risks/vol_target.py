"""Volatility targeting: entry notional = target_vol / realized_vol x NAV, where realized_vol is the
annualized sample std of the last `lookback` bar log returns at the signal bar (periods per year =
annualization basis x bars per day). Entries are rejected while it is undefined, zero (a flat window:
`rolling_std` is exactly 0 on a constant window) or not finite: no position is sized from a volatility
estimate of 0. A positive estimate gives target_vol / vol x NAV, capped by `leverage_cap` when the Spec
has it (pair vol_target with leverage_cap to bound the size of very quiet windows)."""

import numpy as np

from auraquant.cta.strategy.indicators import log_returns, rolling_std
from auraquant.cta.strategy.protocols import KernelPart, Param


class VolTarget:
    name = "vol_target"
    params = {"target_vol": Param(0.2, "float", 1e-6, 10.0, "annualized volatility target"),
              "lookback": Param(24 * 30, "int", 2, 1_000_000, "bars in the volatility window"),
              "basis": Param(365, "int", 1, 366, "days per year used to annualize")}

    def configure(self, bars, params):
        scale = np.sqrt(float(params["basis"]) * bars.bars_per_day())
        vol = rolling_std(log_returns(bars.close), int(params["lookback"])) * scale
        return KernelPart(values={"target_vol": float(params["target_vol"])}, series={"vol": vol})


MODULE = VolTarget()
