"""Shared fixtures for experiment tests: synthetic bars (labelled synthetic) and a small EMA-cross spec."""

from __future__ import annotations

import pandas as pd
import pytest

from auraquant.cta.data.synthetic import generate
from auraquant.cta.strategy.spec import Spec


def ema_atr_spec() -> Spec:
    return Spec.model_validate({
        "name": "ema_atr_test",
        "baseline": {"name": "ema_cross", "params": {"fast": 12, "slow": 26}},
        "execution": [{"name": "chandelier", "params": {"period": 22, "mult": 3.0}}],
        "search_space": {"baseline.fast": {"kind": "int", "low": 3, "high": 30},
                         "baseline.slow": {"kind": "int", "low": 20, "high": 120},
                         "execution.chandelier.mult": {"kind": "float", "low": 1.0, "high": 5.0}},
        "engine": {"commission_bps": 5, "slippage_bps": 2}})


@pytest.fixture(scope="session")
def synth_bars() -> pd.DataFrame:
    return generate(6000, seed=11)


@pytest.fixture(scope="session")
def spec() -> Spec:
    return ema_atr_spec()
