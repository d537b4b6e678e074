"""Cloud unit fixtures: a small, deterministic sweep job on synthetic bars (labelled synthetic)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from auraquant.cta.cloud.bundle import make_job, write_bundle
from auraquant.cta.data.synthetic import generate
from auraquant.cta.strategy.spec import Spec
from tests.support.specs import SWEEP_PARAM_SETS, SWEEP_SPEC

SPEC, PARAM_SETS = SWEEP_SPEC, SWEEP_PARAM_SETS


@pytest.fixture(scope="session")
def bars() -> pd.DataFrame:
    return generate(2_500, seed=11)


@pytest.fixture(scope="session")
def job(bars: pd.DataFrame):
    return make_job(bars, SPEC, param_sets=PARAM_SETS, seed=3, top_k=2, symbol="SYNTH/USDT", timeframe="1h")


@pytest.fixture
def bundle_path(tmp_path: Path, job, bars: pd.DataFrame) -> Path:
    return write_bundle(job, bars, tmp_path / "bundles")


WF_SPEC = Spec(name="ema-wf", baseline={"name": "ema_cross", "params": {"fast": 12, "slow": 26}},
               search_space={"baseline.fast": {"kind": "int", "low": 3, "high": 20},
                             "baseline.slow": {"kind": "int", "low": 25, "high": 80}})
WF_SEARCH = {"walk_forward": {"train_bars": 900, "validation_bars": 200, "target_bars": 300},
             "search": {"n_trials": 8, "batch_size": 4, "top_k": 2, "n_startup_trials": 4}}


@pytest.fixture
def wf_bundle_path(tmp_path: Path, bars: pd.DataFrame) -> Path:
    job = make_job(bars, WF_SPEC, kind="walkforward", search=WF_SEARCH, seed=5)
    return write_bundle(job, bars, tmp_path / "wf-bundles")
