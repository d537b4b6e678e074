"""The default search (`qmc_parzen`) over a whole walk-forward: bit-identical on 1 and 2 window threads
(windows searched concurrently, robustness windows analysed concurrently), one trial per evaluated parameter
set in the result and its DSR, and the reference sampler still selectable."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from auraquant.cta.experiment.config import SearchConfig
from auraquant.cta.experiment.robustness import RobustnessConfig
from auraquant.cta.experiment.runner import execute, run_from_frame
from tests.integration.experiment.wf_fixtures import HOLDOUT, N_BARS, WF, ema_atr_spec

SEARCH = SearchConfig(n_trials=20, batch_size=10, n_startup_trials=10, top_k=4)


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    from auraquant.cta.data.synthetic import generate

    return generate(N_BARS, seed=21)


def _run(frame: pd.DataFrame, out: Path, executor: str, search: SearchConfig = SEARCH,
         robustness: RobustnessConfig = RobustnessConfig(spa_reps=200, mc_sims=200)):
    run, bars = run_from_frame(frame, ema_atr_spec(), WF, search, seed=7, holdout_bars=HOLDOUT)
    return execute(run, bars, out_dir=out, storage_url=f"journal:{out}.journal", executor=executor,
                   robustness=robustness).result


def test_one_and_two_threads_give_identical_runs(frame, tmp_path: Path) -> None:
    one = _run(frame, tmp_path / "one", "threads:1", robustness=RobustnessConfig(spa_reps=200, mc_sims=200,
                                                                                  workers=1))
    two = _run(frame, tmp_path / "two", "threads:2")
    assert [(w.params, w.train_score, w.validation_score) for w in one.windows] == \
        [(w.params, w.train_score, w.validation_score) for w in two.windows]
    assert one.oos == two.oos and one.robustness == two.robustness
    assert list(one.robustness["pbo_windows"]) == [f"w{k:03d}" for k in range(4)]
    for name in ("trials.parquet", "oos_equity.parquet", "selection.parquet",
                 *(f"robustness/w{k:03d}_trial_returns.parquet" for k in range(4))):
        pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "one" / name), pd.read_parquet(tmp_path / "two" / name),
                                      check_exact=True)
    # every evaluated parameter set is one trial: the table, the result and its DSR count them all
    trials = pd.read_parquet(tmp_path / "one" / "trials.parquet")
    assert len(trials) == 4 * SEARCH.n_trials == one.total_trials == one.oos.dsr_n_trials
    assert all(list(g) == list(range(20)) for _, g in trials.groupby("window")["optuna_number"])


def test_reference_sampler_is_selectable_and_differs(frame, tmp_path: Path) -> None:
    fast = _run(frame, tmp_path / "fast", "threads:2", robustness=None)
    tpe = _run(frame, tmp_path / "tpe", "threads:2", SEARCH.model_copy(update={"sampler": "optuna_tpe"}),
               robustness=None)
    assert fast.total_trials == tpe.total_trials == 80
    a = pd.read_parquet(tmp_path / "fast" / "trials.parquet")
    b = pd.read_parquet(tmp_path / "tpe" / "trials.parquet")
    assert not a["baseline.fast"].equals(b["baseline.fast"])  # two different proposal rules
