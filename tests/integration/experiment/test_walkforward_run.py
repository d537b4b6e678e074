"""Walk-forward end to end on a workspace: artifacts, identical results on threads and a 2-process Dask
LocalCluster, and a run that never reads a holdout bar."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from auraquant.cta.experiment.models import RESULT_KIND, Run, RunResult
from auraquant.cta.experiment.runner import execute as execute_run
from auraquant.cta.experiment.runner import (
    load_result,
    run_experiment,
    run_from_frame,
    run_from_store,
    run_status,
)
from tests.integration.experiment.wf_fixtures import HOLDOUT, N_BARS, SEARCH, WF, ema_atr_spec


def _fingerprint(res: RunResult, out_dir) -> tuple:
    eq = pd.read_parquet(f"{out_dir}/oos_equity.parquet")
    return ([(w.window.index, w.params, w.train_score, w.validation_score) for w in res.windows],
            eq["equity"].to_numpy().tobytes(), res.oos.model_dump())


def test_run_artifacts_and_threads_equal_dask(synth_ws, tmp_path) -> None:
    ws, dv = synth_ws
    run, bars = run_from_store(ws, ema_atr_spec(), dv, WF, SEARCH, seed=5, holdout_bars=HOLDOUT)
    seen = []
    out = run_experiment(ws, run, bars, executor="threads:2", progress=lambda d, n: seen.append((d, n)))
    res = out.result
    assert seen[0] == (0, 4) and seen[-1] == (4, 4)
    assert ws.store.get_object(RESULT_KIND, run.id, RunResult) == load_result(ws, run.id)
    adir = res.artifacts
    trials = pd.read_parquet(f"{adir}/trials.parquet")
    sel = pd.read_parquet(f"{adir}/selection.parquet")
    assert len(trials) == 4 * SEARCH.n_trials == res.total_trials
    assert trials.groupby("window")["selected"].sum().tolist() == [1, 1, 1, 1]
    assert sel["window"].tolist() == [0, 1, 2, 3]
    assert len(json.loads(open(f"{adir}/reports.json").read())) == 4
    # The chosen params are the validation winner among the train top-K.
    for w in res.windows:
        t = trials[trials.window == w.window.index]
        top = t[t.validation_score.notna()]
        assert 0 < len(top) <= SEARCH.top_k
        assert w.validation_score == top.validation_score.max()
        assert t.loc[t.selected, "baseline.fast"].item() == w.params["baseline.fast"]
    # Stitched OOS equity compounds the target segments' returns.
    eq = pd.read_parquet(f"{adir}/oos_equity.parquet")
    assert len(eq) == 4 * WF.target_bars
    prod = np.prod([1 + w.target_report["total_return"] for w in res.windows])
    assert eq["equity"].iloc[-1] / ws_capital(run) == pytest.approx(prod, rel=1e-9)
    assert res.oos.dsr is not None and res.oos.dsr_n_trials == 80
    st = run_status(ws, run.id)
    assert st["state"] == "finished" and st["windows_complete"] == 4 and set(st["trials_complete"].values()) == {20}

    # Same Run on a 2-worker Dask LocalCluster (separate processes, separate storage) -> identical.
    dask_out = execute_run(run, bars, out_dir=tmp_path / "dask", storage_url=f"journal:{tmp_path / 'd.journal'}",
                           executor="dask-local:2")
    assert _fingerprint(dask_out.result, tmp_path / "dask") == _fingerprint(res, adir)
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "dask" / "trials.parquet").drop(columns="optuna_number"),
                                  trials.drop(columns="optuna_number"))


def ws_capital(run: Run) -> float:
    return run.spec.engine.initial_capital


def test_search_and_selection_never_read_a_holdout_bar(synth_bars_5000, tmp_path) -> None:
    frame = synth_bars_5000
    run, bars = run_from_frame(frame, ema_atr_spec(), WF, SEARCH, seed=2, holdout_bars=HOLDOUT)
    hs = frame["time"].iloc[N_BARS - HOLDOUT]
    assert bars.holdout_start == hs
    res = execute_run(run, bars, out_dir=tmp_path / "a", storage_url=f"journal:{tmp_path / 'a.journal'}",
                      executor="threads:1").result
    # 1. Every range the access object served ends before the holdout.
    assert bars.served and max(r.last_time for r in bars.served) < hs
    assert max(r.stop for r in bars.served) <= N_BARS - HOLDOUT
    # 2. Results do not depend on the holdout's content: scramble it and get bit-identical evidence.
    scrambled = frame.copy()
    tail = scrambled.index >= N_BARS - HOLDOUT
    scrambled.loc[tail, ["open", "high", "low", "close"]] *= 3.7
    run2, bars2 = run_from_frame(scrambled, ema_atr_spec(), WF, SEARCH, seed=2, holdout_bars=HOLDOUT)
    assert run2.id == run.id  # the holdout is not even part of the run's identity hash
    res2 = execute_run(run2, bars2, out_dir=tmp_path / "b", storage_url=f"journal:{tmp_path / 'b.journal'}",
                       executor="threads:1").result
    assert _fingerprint(res2, tmp_path / "b") == _fingerprint(res, tmp_path / "a")


@pytest.fixture
def synth_bars_5000():
    from auraquant.cta.data.synthetic import generate

    return generate(N_BARS, seed=21)
