"""Cloud integration fixtures: a small sweep bundle, the Managed Agents emulator and a real SDK client."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import anthropic
import pandas as pd
import pytest

from auraquant.cta.cloud.bundle import make_job, write_bundle
from auraquant.cta.data.synthetic import generate
from tests.support.managed_agents_emulator import ManagedAgentsEmulator, make_wheel
from tests.support.specs import SWEEP_PARAM_SETS, SWEEP_SPEC

SPEC, PARAM_SETS = SWEEP_SPEC, SWEEP_PARAM_SETS


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
