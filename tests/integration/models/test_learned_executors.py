"""A learned baseline gives the same run on threads and on a 2-worker local Dask cluster: same weights
hashes, chosen thresholds, OOS metrics and robustness (which, after Dask, re-evaluates trials with models
reloaded from the window artifacts, since they were fitted in the workers)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("torch")

from auraquant.cta.experiment.config import SearchConfig, WalkForwardConfig
from auraquant.cta.experiment.runner import execute, run_from_frame
from auraquant.cta.strategy.spec import Spec


def _frame(n: int = 2400) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    r = np.zeros(n)
    e = rng.normal(0, 0.004, n)
    for t in range(1, n):
        r[t] = 0.3 * r[t - 1] + e[t]
    c = 30_000 * np.exp(np.cumsum(r))
    o = np.r_[c[0], c[:-1]]
    return pd.DataFrame({"time": pd.date_range("2024-01-01", periods=n, freq="h", tz="UTC"), "open": o,
                         "high": np.maximum(o, c) * 1.001, "low": np.minimum(o, c) * 0.999, "close": c,
                         "volume": 1.0})


@pytest.mark.slow
def test_threads_equal_dask(tmp_path: Path) -> None:
    spec = Spec(baseline={"name": "model_lstm", "params": {"horizon": 1, "lookback": 8, "hidden": 8, "hp_trials": 2,
                                                          "epochs": 2}},
                search_space={"baseline.threshold": {"kind": "float", "low": 0.5, "high": 0.6}})
    wf = WalkForwardConfig(train_bars=1000, validation_bars=300, target_bars=350, n_windows=3)
    sc = SearchConfig(n_trials=6, batch_size=6, top_k=2, n_startup_trials=3)
    results = []
    for ex in ("threads:2", "dask-local:2"):
        run, bars = run_from_frame(_frame(), spec, wf, sc, seed=0)
        out = execute(run, bars, out_dir=tmp_path / ex.replace(":", "_"),
                      storage_url=f"journal:{tmp_path / (ex.replace(':', '_') + '.journal')}", executor=ex)
        results.append(out.result)
    a, b = results
    assert [w.model for w in a.windows] == [w.model for w in b.windows]
    assert [w.params for w in a.windows] == [w.params for w in b.windows]
    assert a.oos == b.oos and a.oos.dsr_n_trials == 3 * 2 * 6
    assert a.robustness["pbo"] == b.robustness["pbo"] and a.robustness["spa_windows"] == b.robustness["spa_windows"]
