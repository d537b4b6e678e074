"""Must-show 2: on a series with a planted, learnable signal the learned baseline finds it out of sample;
on a random walk it does not (the session DSR, deflated by every model and threshold trial, stays below
0.5). Same pipeline, same settings, only the data differ."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("torch")

from auraquant.cta.data import service
from auraquant.cta.experiment import ledger
from auraquant.cta.experiment.config import SearchConfig, WalkForwardConfig
from auraquant.cta.experiment.gates import GateConfig
from auraquant.cta.experiment.runner import run_experiment, run_from_store
from auraquant.cta.experiment.significance import assess_run
from auraquant.cta.strategy.spec import Spec
from auraquant.workspace import Workspace

N = 4000
WF = WalkForwardConfig(train_bars=1200, validation_bars=300, target_bars=600, embargo_bars=1, n_windows=4)
SEARCH = SearchConfig(n_trials=6, batch_size=6, n_startup_trials=3, top_k=2)


def _series(phi: float, seed: int) -> pd.DataFrame:
    """Hourly bars whose log returns follow r[t] = phi * r[t-1] + e[t]: phi > 0 plants momentum that the
    previous bar's return predicts; phi = 0 is a random walk."""
    rng = np.random.default_rng(seed)
    e = rng.normal(0.0, 0.004, N)
    r = np.zeros(N)
    for t in range(1, N):
        r[t] = phi * r[t - 1] + e[t]
    c = 20_000 * np.exp(np.cumsum(r))
    o = np.r_[c[0], c[:-1]]
    wick = np.abs(rng.normal(0, 0.001, N))
    return pd.DataFrame({"time": pd.date_range("2023-01-01", periods=N, freq="h", tz="UTC"), "open": o,
                         "high": np.maximum(o, c) * (1 + wick), "low": np.minimum(o, c) * (1 - wick), "close": c,
                         "volume": 1.0})


def _run(ws: Workspace, tmp: Path, phi: float, session: str) -> dict:
    path = tmp / f"ar_{phi}.parquet"
    _series(phi, seed=11).to_parquet(path, index=False)
    dv, _ = service.import_file(ws.store, path, symbol=f"AR{phi}/USD", timeframe="1h")
    spec = Spec(name=f"planted-{phi}", baseline={"name": "model_nbeats", "params": {
        "horizon": 1, "lookback": 8, "hidden": 16, "epochs": 3, "hp_trials": 2}},
                risk=[{"name": "fixed_fraction"}], engine={"commission_bps": 1.0},
                search_space={"baseline.threshold": {"kind": "float", "low": 0.5, "high": 0.6}})
    run, bars = run_from_store(ws, spec, dv.id, WF, SEARCH, seed=0)
    out = run_experiment(ws, run, bars, executor="threads:1", session_id=session)
    sig = assess_run(ws.store, run, out.result, session, GateConfig())
    acc = [w.model["val_accuracy"] for w in out.result.windows]
    return {"oos": out.result.oos, "sig": sig, "val_accuracy": acc, "run": run, "result": out.result, "dv": dv,
            "oos_accuracy": _oos_accuracy(Path(out.result.artifacts), _series(phi, seed=11))}


def _oos_accuracy(run_dir: Path, frame: pd.DataFrame) -> float:
    """Hit rate of the stored target-segment predictions against the realized next-bar direction."""
    up = pd.Series((frame["close"].shift(-1) > frame["close"]).to_numpy(), index=frame["time"])
    hits, n = 0, 0
    for f in sorted(run_dir.glob("windows/w*_model/predictions.parquet")):
        p = pd.read_parquet(f).dropna()
        p = p[p["time"] < frame["time"].iloc[-1]]
        hits += int(((p["probability"].to_numpy() > 0.5) == up.loc[p["time"]].to_numpy()).sum())
        n += len(p)
    return hits / n


@pytest.mark.slow
def test_planted_signal_found_random_walk_not(workspace: Workspace, tmp_path: Path) -> None:
    planted = _run(workspace, tmp_path, 0.35, "planted")
    assert min(planted["val_accuracy"]) > 0.54, planted["val_accuracy"]
    assert planted["oos_accuracy"] > 0.54, planted["oos_accuracy"]  # ~2,300 predictions: > 4 std above 0.5
    assert planted["oos"].sharpe is not None and planted["oos"].sharpe > 1.0
    assert planted["oos"].total_return > 0 and planted["oos"].trades > 30

    walk = _run(workspace, tmp_path, 0.0, "walk")
    assert walk["oos_accuracy"] < 0.53, walk["oos_accuracy"]
    assert walk["sig"]["dsr_session"] is not None and walk["sig"]["dsr_session"] < 0.5, walk["sig"]
    # the model's trials entered the ledger: 4 windows x 2 hyperparameter trials x 6 threshold trials
    assert walk["sig"]["dsr_session_n_trials"] == 4 * 2 * 6
    content = ledger.content_hash_of(workspace.store, walk["dv"].id, "")
    keys = workspace.store.ledger_trials(content, "walk")["trial_key"].tolist()
    assert sum("/h" in k for k in keys) == 4 * 6 and len(keys) == 48  # 24 of them from the non-chosen models
    assert walk["sig"]["label"] == "not significant"

    # robustness re-evaluates each window's trials with that window's fitted model (not an unfitted one)
    run_dir = Path(planted["result"].artifacts)
    mat = pd.read_parquet(run_dir / "robustness" / "w000_trial_returns.parquet").drop(columns="day")
    assert (mat.to_numpy() != 0).any(axis=0).all()
    assert planted["result"].robustness["pbo_spa_trials_per_window"]["w000"] >= 2

    # the model artifacts of every window are pinned by sha256 in a record's artifacts map
    from auraquant.cta.governance import evidence
    from auraquant.cta.tools.governance import run_artifacts

    run = planted["run"]
    art = run_artifacts(workspace, run.id, planted["result"].artifacts, planted["dv"].id)
    model_refs = sorted(k for k in art if "_model/" in k)
    assert len(model_refs) == 4 * 4 and any(k.endswith("w002_model/weights.bin") for k in model_refs)
    w = planted["result"].windows[2].model
    assert art[next(k for k in model_refs if k.endswith("w002_model/weights.bin"))] == w["weights_sha256"]
    weights = run_dir / "windows" / "w002_model" / "weights.bin"
    weights.write_bytes(weights.read_bytes()[:-4] + b"\0\0\0\0")
    assert any("w002_model/weights.bin" in p for p in evidence.problems(workspace.root, workspace.store, art))
    print(f"planted: OOS Sharpe {planted['oos'].sharpe:.2f}, OOS accuracy {planted['oos_accuracy']:.3f}; "
          f"random walk: OOS Sharpe {walk['oos'].sharpe}, session DSR {walk['sig']['dsr_session']:.3f}, "
          f"OOS accuracy {walk['oos_accuracy']:.3f}")
