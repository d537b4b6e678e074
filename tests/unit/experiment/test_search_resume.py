"""Per-window search, for each sampler (`qmc_parzen`, the default, and `optuna_tpe`): deterministic per
seed, and a kill at any point resumes to the very same trials (crash states are recreated in the Optuna
storage as a killed process leaves them: only complete trials are ever persisted, a batch at a time)."""

from __future__ import annotations

from pathlib import Path

import optuna
import pandas as pd
import pytest

from auraquant.cta.experiment.config import SearchConfig
from auraquant.cta.experiment.search import distributions, open_storage, search_window

SAMPLERS = ("qmc_parzen", "optuna_tpe")
CFG = SearchConfig(n_trials=20, batch_size=10, n_startup_trials=5)


@pytest.fixture(scope="module", params=SAMPLERS)
def cfg(request) -> SearchConfig:
    return CFG.model_copy(update={"sampler": request.param})


def _search(bars, spec, url: str, cfg: SearchConfig, seed: int = 3) -> pd.DataFrame:
    return search_window(bars, spec, cfg, storage_url=url, study_name="w", seed=seed, window=0).trials


def _cols(t: pd.DataFrame) -> pd.DataFrame:
    return t.drop(columns=["optuna_number"])


@pytest.fixture(scope="module")
def train(synth_bars: pd.DataFrame) -> pd.DataFrame:
    return synth_bars.iloc[:2000].reset_index(drop=True)


@pytest.fixture(scope="module")
def reference(train, spec, cfg, tmp_path_factory) -> pd.DataFrame:
    return _search(train, spec, f"journal:{tmp_path_factory.mktemp('ref') / 's.journal'}", cfg)


def test_same_seed_same_trials_other_seed_differs(train, spec, cfg, reference, tmp_path: Path) -> None:
    again = _search(train, spec, f"sqlite:///{tmp_path / 's.db'}", cfg)
    pd.testing.assert_frame_equal(_cols(again), _cols(reference))
    other = _search(train, spec, f"journal:{tmp_path / 'o.journal'}", cfg, seed=4)
    assert not other["baseline.fast"].equals(reference["baseline.fast"])
    assert list(reference[["batch", "slot"]].itertuples(index=False)) == [(b, s) for b in (0, 1) for s in range(10)]
    assert (reference["score"] == reference["sharpe"].fillna(-1e9)).all()


def _copy_trials(src_url: str, dst_url: str, keep) -> None:
    """A storage as a killed run leaves it: only the complete trials persisted before the kill."""
    src = optuna.load_study(study_name="w", storage=open_storage(src_url))
    dst = optuna.create_study(study_name="w", storage=open_storage(dst_url), direction="maximize")
    for t in src.get_trials(deepcopy=False):
        if keep(*t.user_attrs["wf"]):
            dst.add_trial(t)


def test_resume_after_kill_between_batches(train, spec, cfg, reference, tmp_path: Path) -> None:
    src = f"journal:{tmp_path / 'src.journal'}"
    _search(train, spec, src, cfg)
    url = f"journal:{tmp_path / 's.journal'}"
    _copy_trials(src, url, lambda b, s: b == 0)
    resumed = _search(train, spec, url, cfg)
    pd.testing.assert_frame_equal(_cols(resumed), _cols(reference))


def test_resume_after_kill_while_persisting_a_batch(train, spec, cfg, reference, tmp_path: Path) -> None:
    src = f"journal:{tmp_path / 'src.journal'}"
    _search(train, spec, src, cfg)
    url = f"journal:{tmp_path / 's.journal'}"
    _copy_trials(src, url, lambda b, s: b == 0 or s < 4)  # killed after persisting 4 of 10 of batch 1
    resumed = _search(train, spec, url, cfg)
    pd.testing.assert_frame_equal(_cols(resumed), _cols(reference))
    study = optuna.load_study(study_name="w", storage=open_storage(url))
    assert len(study.get_trials(deepcopy=False)) == 20  # only the 6 missing trials were added


def test_resume_ignores_trials_that_never_completed(train, spec, cfg, reference, tmp_path: Path) -> None:
    url = f"journal:{tmp_path / 's.journal'}"
    study = optuna.create_study(study_name="w", storage=open_storage(url), direction="maximize")
    study.ask(fixed_distributions=distributions(spec))  # a RUNNING trial, e.g. from another tool
    resumed = _search(train, spec, url, cfg)
    pd.testing.assert_frame_equal(_cols(resumed), _cols(reference))


def test_storage_of_other_bars_is_refused(train, spec, cfg, tmp_path: Path) -> None:
    url = f"journal:{tmp_path / 's.journal'}"
    _search(train, spec, url, cfg)
    with pytest.raises(RuntimeError, match="differ|different"):
        _search(train.iloc[:1500], spec, url, cfg)


def test_constrained_objective_prefers_feasible(train, spec, cfg, tmp_path: Path) -> None:
    cfg = cfg.model_copy(update={"objective": "constrained", "min_trades": 40})
    t = _search(train, spec, f"journal:{tmp_path / 's.journal'}", cfg)
    assert (t["feasible"] == (t["trades"] >= 40)).all()
    assert t["feasible"].any() and (~t["feasible"]).any()
