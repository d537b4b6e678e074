"""The trial ledger and the significance gates through the tool surface (Must-show 3 of issue 14).

A record's DSR must deflate by every trial the research session evaluated on the data content, not by the
trials of the one experiment that produced it. Here one session runs two experiments on the same data and
archives the second: the record's DSR is recomputed in this file from the two runs' trial tables with the
DSR formula written out independently (scipy's normal distribution, no project code), and it differs from
what one experiment's count would give — so the test fails if the count were replaced by one run's."""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm

from aura.tools import ToolRegistry
from auraquant.cta.experiment import ledger, runner
from auraquant.cta.experiment.holdout import existing_score
from auraquant.cta.governance.archive import Archive
from auraquant.cta.tools import build_registry, research_context
from auraquant.cta.tools.deps import Ctx
from auraquant.cta.workspace_init import init_workspace
from auraquant.workspace import Workspace

SPEC = {"name": "ema-trail", "baseline": {"name": "ema_cross", "params": {"fast": 8, "slow": 40}},
        "execution": [{"name": "trailing_pct"}], "risk": [{"name": "fixed_fraction"}],
        "search_space": {"baseline.fast": {"kind": "int", "low": 4, "high": 20},
                         "baseline.slow": {"kind": "int", "low": 30, "high": 90}}}
PARAMS = list(SPEC["search_space"])
WALK_FORWARD = {"train_bars": 1200, "target_bars": 400, "n_windows": 2}
SEARCH = {"n_trials": 24, "batch_size": 12, "n_startup_trials": 8, "top_k": 3}
GOAL = {"trades": {"min": 0}}
EULER_GAMMA = 0.5772156649015329


@dataclass
class Bench:
    ws: Workspace
    reg: ToolRegistry
    ids: dict[str, str]

    def call(self, ctx: Ctx, name: str, args: dict[str, Any]) -> Any:
        return asyncio.run(self.reg.call(name, args, ctx))

    def ok(self, ctx: Ctx, name: str, args: dict[str, Any]) -> Any:
        out = self.call(ctx, name, args)
        assert out.ok, out.content
        return out.value

    def ctx(self, session: str) -> Ctx:
        return research_context(self.ws, session_id=session, model_id="test-model")


@pytest.fixture(scope="module")
def bench(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bench]:
    root = tmp_path_factory.mktemp("ledger") / "ws"
    init_workspace(root, demo_data=False)  # default gates: session DSR >= 0.95, PBO <= 0.5, SPA p <= 0.1, 30 trades
    b = Bench(Workspace.open(root), build_registry(), {})
    s1 = b.ctx("session-1")
    b.ids["dv"] = b.ok(s1, "data_synth", {"n": 3000, "seed": 5}).version.id
    b.ok(s1, "data_slice_create", {"data_version_id": b.ids["dv"], "role": "holdout", "start": "2022-04-01"})
    b.ids["spec"] = b.ok(s1, "spec_put", {"spec": SPEC, "data_version_id": b.ids["dv"]}).spec_id
    for name, seed in (("run_a", 0), ("run_b", 1)):
        b.ids[name] = b.ok(s1, "experiment_run", {"spec_id": b.ids["spec"], "walk_forward": WALK_FORWARD,
                                                  "search": SEARCH, "seed": seed, "wait_s": 300}).run_id
    b.ids["record"] = b.ok(s1, "archive_candidate", {"run_id": b.ids["run_b"], "family": "ema-cross",
                                                     "goal": GOAL}).record_id
    yield b
    s1.deps.jobs.close()


def _trials(b: Bench, run_id: str) -> pd.DataFrame:
    res = runner.load_result(b.ws, run_id)
    assert res is not None
    return pd.read_parquet(Path(res.artifacts) / "trials.parquet")


def _independent_dsr(sr: float, t: int, skew: float, kurt: float, trial_sharpes: np.ndarray) -> tuple[float, int, float]:
    """Bailey & Lopez de Prado (2014), written out here: (DSR, N, V) from the trials' per-day Sharpe ratios."""
    finite = trial_sharpes[np.isfinite(trial_sharpes)]
    n, v = int(trial_sharpes.size), float(np.var(finite, ddof=1))
    sr0 = math.sqrt(v) * ((1 - EULER_GAMMA) * norm.ppf(1 - 1 / n) + EULER_GAMMA * norm.ppf(1 - 1 / (n * math.e)))
    z = (sr - sr0) * math.sqrt(t - 1) / math.sqrt(1 - skew * sr + (kurt - 1) / 4 * sr**2)
    return float(norm.cdf(z)), n, v


def _daily_sharpes(trials: pd.DataFrame) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return (trials["daily_mean"] / trials["daily_std"]).where(trials["daily_std"] > 0).to_numpy(dtype=float)


def test_record_dsr_equals_an_independent_computation_with_the_session_count(bench: Bench) -> None:
    rec = Archive(bench.ws.store, bench.ws.aura).get(bench.ids["record"]).record
    sig = rec.significance
    a, b = _trials(bench, bench.ids["run_a"]), _trials(bench, bench.ids["run_b"])
    res = runner.load_result(bench.ws, bench.ids["run_b"])
    assert res is not None
    o = res.oos
    sr = o.daily_mean / o.daily_std
    both = np.concatenate([_daily_sharpes(a), _daily_sharpes(b)])
    dsr, n, v = _independent_dsr(sr, o.n_days, o.skew, o.kurtosis, both)
    assert n == len(a) + len(b) == 96  # 24 trials x 2 windows per run
    assert sig["dsr_scope"] == "session" and sig["dsr_n_trials"] == n == rec.trial_count
    assert sig["dsr_sharpe_variance"] == pytest.approx(v, rel=1e-12)
    assert sig["dsr"] == pytest.approx(dsr, rel=1e-9, abs=1e-12)
    assert rec.metrics["dsr"] == sig["dsr"] == rec.robustness["dsr"]
    # one experiment's count (this run alone) would give another DSR: the test fails if the ledger count
    # were replaced by it
    one, n_one, _ = _independent_dsr(sr, o.n_days, o.skew, o.kurtosis, _daily_sharpes(b))
    assert n_one == 48 == sig["run_trials"] and abs(one - sig["dsr"]) > 1e-4
    assert sig["dsr_run"] == pytest.approx(one, rel=1e-9, abs=1e-12)  # kept for contrast, never gated on


def test_sessions_and_workspace_are_counted_apart_on_one_data_content(bench: Bench) -> None:
    s2 = bench.ctx("session-2")
    run_c = bench.ok(s2, "experiment_run", {"spec_id": bench.ids["spec"], "walk_forward": WALK_FORWARD,
                                            "data_version_id": bench.ids["dv"],
                                            "search": SEARCH, "seed": 2, "wait_s": 300}).run_id
    rec = bench.ok(s2, "archive_candidate", {"run_id": run_c, "family": "ema-cross", "goal": GOAL})
    sig = Archive(bench.ws.store, bench.ws.aura).get(rec.record_id).record.significance
    assert sig["dsr_session_n_trials"] == 48  # session 2 evaluated one experiment (2 windows x 24 trials)
    assert sig["dsr_workspace_n_trials"] == 144  # three experiments on this content in the workspace
    assert rec.dsr_count is not None and rec.dsr_count.startswith("session N=48")
    # a backtest is a trial too, and the same bars under another symbol are the same data content
    other = bench.ok(s2, "data_synth", {"n": 3000, "seed": 5, "symbol": "OTHER/USDT"}).version
    dv = bench.ws.store.get_data_version(bench.ids["dv"])
    assert other.id != dv.id and bench.ws.store.get_data_version(other.id).content_hash == dv.content_hash
    spec_o = bench.ok(s2, "spec_put", {"spec": SPEC, "data_version_id": other.id}).spec_id
    bench.ok(s2, "backtest_run", {"spec_id": spec_o, "data_version_id": other.id})
    assert ledger.count(bench.ws.store, dv.content_hash, "session", "session-2").n_trials == 49
    assert ledger.count(bench.ws.store, dv.content_hash, "workspace").n_trials == 145
    bench.ok(s2, "sweep_run", {"spec_id": spec_o, "data_version_id": other.id,
                               "param_sets": [{"baseline.fast": f, "baseline.slow": 50} for f in (5, 7, 9)]})
    assert ledger.count(bench.ws.store, dv.content_hash, "workspace").n_trials == 148


def test_freeze_below_the_gates_is_refused_in_one_line_naming_each_gate(bench: Bench) -> None:
    s1 = bench.ctx("session-1")
    rid = bench.ids["record"]
    rec = Archive(bench.ws.store, bench.ws.aura).get(rid).record
    assert rec.significance["label"] == "not significant"  # tiny synthetic runs: far below the gates
    listed = {r.record_id: r for r in bench.ok(s1, "archive_list", {})}
    assert listed[rid].significance == "not significant" and listed[rid].failed_gates
    out = bench.call(s1, "archive_freeze", {"record_id": rid})
    assert not out.ok
    msg = json.loads(out.content)["error"]["message"]
    assert "\n" not in msg and msg.startswith(f"refusing to freeze {rid}: below the significance gates: ")
    for gate in json.loads(out.content)["error"]["details"]["failures"]:
        assert gate in msg
    assert any(g.startswith("session DSR") for g in json.loads(out.content)["error"]["details"]["failures"])
    assert existing_score(bench.ws, rec.run_id) is None  # the holdout stays sealed
    assert Archive(bench.ws.store, bench.ws.aura).get(rid).record.state == "candidate"


def test_pbo_and_spa_use_every_distinct_trial_unless_a_preselection_is_stated(bench: Bench) -> None:
    res = runner.load_result(bench.ws, bench.ids["run_a"])
    assert res is not None
    trials = _trials(bench, bench.ids["run_a"])
    used = res.robustness["pbo_spa_trials_per_window"]
    for k, group in trials.groupby("window"):
        distinct = len(group.drop_duplicates(subset=PARAMS))
        assert used[f"w{int(k):03d}"] == distinct
        cols = pd.read_parquet(Path(res.artifacts) / "robustness" / f"w{int(k):03d}_trial_returns.parquet").columns
        assert len(cols) - 1 == distinct  # minus the day column
    assert max(used.values()) > 16  # the old cap (top 16 by train score) is gone
    assert res.robustness["pbo_spa_selection"] == "all"
    # a stated preselection is honoured and carried into the record
    (bench.ws.config / "gates.json").write_text(json.dumps({"pbo_spa_preselect": 4}))
    try:
        s3 = bench.ctx("session-3")
        run_d = bench.ok(s3, "experiment_run", {"spec_id": bench.ids["spec"], "walk_forward": WALK_FORWARD,
                                                "data_version_id": bench.ids["dv"], "search": SEARCH, "seed": 3,
                                                "wait_s": 300}).run_id
        res_d = runner.load_result(bench.ws, run_d)
        assert res_d is not None and set(res_d.robustness["pbo_spa_trials_per_window"].values()) == {4}
        assert res_d.robustness["pbo_spa_selection"] == "top 4 by train score"
        rec = bench.ok(s3, "archive_candidate", {"run_id": run_d, "family": "ema-cross", "goal": GOAL})
        sig = Archive(bench.ws.store, bench.ws.aura).get(rec.record_id).record.significance
        assert sig["pbo_spa_selection"] == "top 4 by train score"
    finally:
        (bench.ws.config / "gates.json").unlink()
