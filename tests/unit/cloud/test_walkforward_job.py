"""Walk-forward job bundles run through the experiment layer and are trusted only after a bit-identical re-run."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from auraquant.cta.cloud import runner
from auraquant.cta.cloud.bundle import open_bundle
from auraquant.cta.cloud.cost import Calibration, estimate_job
from auraquant.cta.cloud.errors import TrustRefused
from auraquant.cta.cloud.trust import accept_results, verify_results
from auraquant.workspace import Workspace

from .test_trust import _forge


def test_walkforward_bundle_runs_and_reproduces(tmp_path: Path, wf_bundle_path: Path, workspace: Workspace) -> None:
    r = runner.run_job(wf_bundle_path, tmp_path / "wf")
    assert set(r.manifest["files"]) == set(runner.WALKFORWARD_FILES)
    selection = runner.read_frame(r, "selection.parquet")
    assert len(r.manifest["top"]) == len(selection) >= 2
    assert [t["params"]["baseline.fast"] for t in r.manifest["top"]] == list(selection["param.baseline.fast"])
    assert r.manifest["n_trials"] == 8 * len(selection)
    v = verify_results(wf_bundle_path, r.out_dir)
    assert v.reproduced_trials == list(range(len(selection)))
    acc = accept_results(workspace, wf_bundle_path, r.out_dir, backend="local")
    assert acc.path.is_file() and acc.records == []

    bad = tmp_path / "bad"
    shutil.copytree(r.out_dir, bad)
    _forge(bad, "oos_equity.parquet", lambda f: f.__setitem__("equity", f["equity"] * 1.01))
    with pytest.raises(TrustRefused, match="oos_equity.parquet .*does not reproduce"):
        verify_results(wf_bundle_path, bad)


def test_walkforward_estimate_counts_every_window(wf_bundle_path: Path) -> None:
    job = open_bundle(wf_bundle_path).job
    cal = Calibration(call_s=0.0, unit_s=1e-8, module_s=1e-8, record_s=1e-6, io_s=1e-6, sample_bars=1, sample_sets=1,
                      measured_s=0.0)
    e = estimate_job(job, cal)
    # 2500 bars, train 900 + validation 200 + target 300, step 300: 4 windows
    assert e.param_sets == 8 * 4
    assert e.units == 4 * (900 * 8 + 200 * 2 + 300)
    assert e.local_s > e.units * 2e-8


def test_walkforward_needs_its_search_config(bars: pd.DataFrame) -> None:
    from auraquant.cta.cloud.bundle import make_job

    from .conftest import WF_SPEC

    with pytest.raises(ValueError, match="needs its `search` config"):
        make_job(bars, WF_SPEC, kind="walkforward")


def test_walkforward_verification_costs_at_most_a_quarter_of_the_job(tmp_path: Path, bars: pd.DataFrame,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Engine work (bar x parameter-set evaluations) of verifying vs running a walk-forward, counted at the two
    engine entry points the experiment layer uses; deterministic, unlike wall time (benchmarks/cloud_verify.py)."""
    from auraquant.cta.cloud.bundle import make_job, write_bundle
    from auraquant.cta.experiment import search, window

    from .conftest import WF_SPEC

    units = {"n": 0}
    real_sweep, real_backtest = search.run_sweep, window.run_backtest

    def sweep(b, spec, sets, **kw):
        units["n"] += len(b) * len(sets)
        return real_sweep(b, spec, sets, **kw)

    def backtest(b, spec, **kw):
        units["n"] += len(b)
        return real_backtest(b, spec, **kw)

    monkeypatch.setattr(search, "run_sweep", sweep)
    monkeypatch.setattr(window, "run_backtest", backtest)
    cfg = {"walk_forward": {"train_bars": 900, "validation_bars": 200, "target_bars": 300},
           "search": {"n_trials": 24, "batch_size": 8, "top_k": 2, "n_startup_trials": 8}}
    path = write_bundle(make_job(bars, WF_SPEC, kind="walkforward", search=cfg, seed=2), bars, tmp_path / "b")
    r = runner.run_job(path, tmp_path / "wf")
    job_units, units["n"] = units["n"], 0
    v = verify_results(path, r.out_dir, secret=b"k" * 32)
    windows = len(v.reproduced_trials)
    # per window: selected + ceil(10% of 23) = 3 audited trials on train, 2 candidates on validation, 1 target
    assert units["n"] == windows * ((1 + 3) * 900 + 2 * 200 + 300)
    assert units["n"] <= 0.25 * job_units, (units["n"], job_units)
    assert len(v.audited_trials) == 3 * windows and v.escape_probability == pytest.approx(1 - 3 / 23)


@pytest.mark.parametrize("variant", ["no_validation", "constrained", "anchored_embargo"])
def test_honest_walkforward_variants_verify_with_every_check_at_full_strength(tmp_path: Path, bars: pd.DataFrame,
                                                                              variant: str) -> None:
    """No false refusals: each selection path (no validation segment, the constrained objective with its
    Optuna constraints, anchored windows with embargo) verifies with every trial audited and every window's
    proposals replayed."""
    from auraquant.cta.cloud.bundle import make_job, write_bundle

    from .conftest import WF_SPEC

    wf: dict = {"train_bars": 900, "validation_bars": 200, "target_bars": 300}
    search: dict = {"n_trials": 8, "batch_size": 4, "top_k": 2, "n_startup_trials": 2}
    if variant == "no_validation":
        wf["validation_bars"] = 0
    elif variant == "constrained":
        search.update(objective="constrained", min_trades=15)
    else:
        wf.update(mode="anchored", embargo_bars=24)
    job = make_job(bars, WF_SPEC, kind="walkforward", search={"walk_forward": wf, "search": search}, seed=9)
    path = write_bundle(job, bars, tmp_path / "b")
    r = runner.run_job(path, tmp_path / "wf")
    v = verify_results(path, r.out_dir, secret=b"v" * 32, audit_n=8, replay_n=100)
    windows = len(v.reproduced_trials)
    assert v.escape_probability == 0.0 and len(v.audited_trials) == 7 * windows
    assert v.details["walkforward"]["replayed_windows"] == list(range(windows))
