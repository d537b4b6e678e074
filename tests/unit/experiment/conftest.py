"""Shared fixtures for experiment tests: synthetic bars (labelled synthetic) and a small EMA-cross spec."""

from __future__ import annotations

import pandas as pd
import pytest

from auraquant.cta.data.synthetic import generate
from auraquant.cta.strategy.spec import Spec
from tests.support.specs import ema_chandelier_spec


def ema_atr_spec() -> Spec:
    return ema_chandelier_spec("ema_atr_test")


@pytest.fixture(scope="session")
def synth_bars() -> pd.DataFrame:
    return generate(6000, seed=11)


@pytest.fixture(scope="session")
def spec() -> Spec:
    return ema_atr_spec()
