"""Cloud integration fixtures: a small sweep bundle, the Managed Agents emulator and a real SDK client."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import anthropic
import pandas as pd
import pytest

from auraquant.cta.cloud.bundle import make_job, write_bundle
from auraquant.cta.data.synthetic import generate
from auraquant.cta.strategy.spec import Spec
from tests.support.managed_agents_emulator import ManagedAgentsEmulator, make_wheel

SPEC = Spec(name="ema-trail", baseline={"name": "ema_cross", "params": {"fast": 12, "slow": 26}},
            execution=[{"name": "trailing_pct", "params": {"pct": 0.05}}])
PARAM_SETS = [{"baseline.fast": f, "baseline.slow": s, "execution.trailing_pct.pct": p}
              for f in (5, 12) for s in (30, 60) for p in (0.02, 0.06)]


@pytest.fixture(scope="session")
def bars() -> pd.DataFrame:
    return generate(2_500, seed=11)


@pytest.fixture
def bundle_path(tmp_path: Path, bars: pd.DataFrame) -> Path:
    job = make_job(bars, SPEC, param_sets=PARAM_SETS, seed=3, top_k=2, symbol="SYNTH/USDT", timeframe="1h")
    return write_bundle(job, bars, tmp_path / "bundles")


@pytest.fixture
def emulator() -> Iterator[ManagedAgentsEmulator]:
    with ManagedAgentsEmulator() as emu:
        yield emu


@pytest.fixture
def client(emulator: ManagedAgentsEmulator) -> anthropic.Anthropic:
    return anthropic.Anthropic(api_key="test-key", base_url=emulator.url, max_retries=0)


@pytest.fixture
def wheel(tmp_path: Path) -> Path:
    return make_wheel(tmp_path)
