"""Shared small universes: synthetic (clearly labelled) members with planted gaps, a late listing and an
early delisting."""

from __future__ import annotations

import pandas as pd
import pytest

from auraquant.cta.data.synthetic import generate_correlated
from auraquant.cta.strategy.spec import Spec
from auraquant.cta.universe.align import AlignedUniverse, align


def gappy_frames(n: int = 1500, seed: int = 11) -> dict[str, pd.DataFrame]:
    """Three synthetic members: A complete, B with two planted outages, C listed late and delisted early."""
    fr = generate_correlated(3, n, seed=seed, correlation=0.4, drift_scale=3.0)
    a, b, c = list(fr)
    fr[b] = fr[b].drop(index=list(range(200, 230)) + list(range(700, 703))).reset_index(drop=True)
    fr[c] = fr[c].iloc[150:n - 300].reset_index(drop=True)
    return fr


@pytest.fixture(scope="module")
def frames() -> dict[str, pd.DataFrame]:
    return gappy_frames()


@pytest.fixture(scope="module")
def au(frames: dict[str, pd.DataFrame]) -> AlignedUniverse:
    return align(frames)


@pytest.fixture(scope="module")
def spec() -> Spec:
    return Spec(baseline={"name": "ema_cross", "params": {"fast": 8, "slow": 40}},
                execution={"name": "trailing_pct", "params": {"pct": 0.03}},
                engine={"commission_bps": 5.0, "slippage_bps": 2.0})
