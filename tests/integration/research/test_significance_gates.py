"""Honest research outcomes (Must-show 2 of issue 14): the offline autopilot, through the real tools, on
markets whose truth is known.

- A driftless random walk (no edge, 20 seeds): research never freezes a record and never says GOAL_MET —
  candidates that beat the goal out of sample by luck are archived "not significant" and stop there.
- Strong planted trends that an EMA cross exploits: research freezes a significant record and the holdout,
  scored once, confirms the goal.
- Real BTC/USDT 1h bars (shared data): no record below the gates is frozen.
Experiments are kept small (short series, few windows and trials) so the whole file stays near two minutes."""

from __future__ import annotations

import json
import multiprocessing
import shutil
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from auraquant.cta.data import synthetic
from auraquant.cta.data.service import ingest_frame
from auraquant.cta.experiment.gates import load_gates
from auraquant.cta.experiment.holdout import existing_score
from auraquant.cta.experiment.significance import freeze_gate
from auraquant.cta.governance.archive import Archive
from auraquant.cta.governance.memory import NS_RESEARCH
from auraquant.cta.research.goal import parse_goal
from auraquant.cta.research.loop import default_budgets, offline_autopilot, run_research
from auraquant.cta.workspace_init import init_workspace
from auraquant.workspace import Workspace

from .conftest import research_cli, run

NULL_SEEDS = list(range(100, 120))


def research(root: Path, bars: pd.DataFrame, goal: str, *, symbol: str = "SYNTH/USDT", max_iters: int = 1,
             windows: int = 2, trials: int = 6) -> dict[str, Any]:
    """One offline research session on `bars` in a fresh workspace; what it concluded and what it froze."""
    shutil.rmtree(root, ignore_errors=True)
    init_workspace(root, demo_data=False)
    ws = Workspace.open(root)
    ingest_frame(ws.store, bars, symbol=symbol, timeframe="1h", source="synthetic:test")
    g = parse_goal(goal)
    pilot, prov = offline_autopilot(g, max_iters=max_iters, windows=windows, trials=trials)
    out = run_research(ws, prov, goal=g, max_iters=max_iters, autopilot=pilot, budgets=default_budgets(max_iters),
                       tearsheet=False)
    records = [s.record for s in Archive(ws.store, ws.aura).list_records()]
    gate = freeze_gate(ws.store, load_gates(ws.config))
    return {"status": out.status, "detail": out.detail, "experiments": out.experiments,
            "frozen": [r.id for r in records if r.state == "frozen"],
            "frozen_failing_gates": {r.id: gate(r) for r in records if r.state == "frozen" and gate(r)},
            "labels": [r.significance.get("label") for r in records],
            "holdout_scored": [r.run_id for r in records if r.run_id and existing_score(ws, r.run_id) is not None],
            "holdout": out.holdout, "significance": out.significance, "approval": pilot.approval_id}


def _null_market(seed: int, tmp: str) -> dict[str, Any]:
    bars = synthetic.generate(2500, seed=seed, drift_scale=0.0)  # a random walk: nothing to find
    return research(Path(tmp) / f"null-{seed}", bars, "SYNTH/USDT 1h Sharpe >= 0.5")


@pytest.mark.slow
def test_no_edge_research_never_freezes_nor_claims_goal_met(tmp_path: Path) -> None:
    # ~2-3 s of CPU per seed, independent of each other: two fresh (spawned) processes share them
    with ProcessPoolExecutor(max_workers=2, mp_context=multiprocessing.get_context("spawn")) as pool:
        outs = list(pool.map(_null_market, NULL_SEEDS, [str(tmp_path)] * len(NULL_SEEDS)))
    for seed, o in zip(NULL_SEEDS, outs, strict=True):
        assert o["experiments"] >= 1, (seed, o["detail"])  # research ran; it did not dodge the question
        assert o["status"] != "GOAL_MET" and not o["frozen"] and not o["holdout_scored"], (seed, o)
        assert o["approval"] is None
    lucky = [o for o in outs if o["labels"]]
    # luck beat the goal out of sample in some seeds: the gates, not the goal, stopped those
    assert len(lucky) >= 3, [o["status"] for o in outs]
    assert all(set(o["labels"]) == {"not significant"} and o["status"] == "NOT_SIGNIFICANT" for o in lucky)


@pytest.mark.slow
# Seeds whose 8-trial windows pass every gate: with 8 trials per window, PBO and the session DSR of a planted
# edge sit near their thresholds and depend on the very trial set drawn (which changes with the sampler).
@pytest.mark.parametrize("seed", [1, 5])
def test_a_planted_edge_is_frozen_and_confirmed_by_the_holdout(tmp_path: Path, seed: int) -> None:
    bars = synthetic.generate(20_000, seed=seed, drift_scale=3.0)  # strong persistent trends
    o = research(tmp_path / "planted", bars, "SYNTH/USDT 1h Sharpe >= 1.0", windows=4, trials=8)
    assert o["status"] == "GOAL_MET", o["detail"]
    assert len(o["frozen"]) == 1 and not o["frozen_failing_gates"]
    sig = o["significance"]
    assert sig["label"] == "significant" and sig["dsr"] >= 0.95 and sig["pbo"] <= 0.5 and sig["spa_p"] <= 0.10
    assert sig["oos_trades"] >= 30 and sig["dsr_scope"] == "session"
    sharpe = next(r for r in o["holdout"] if r["metric"] == "sharpe")
    assert sharpe["verdict"] == "confirms" and sharpe["holdout"] >= 0.5  # 1.0 less the 0.5x tolerance
    assert o["approval"] is not None


@pytest.mark.slow
def test_on_real_btc_bars_no_record_below_the_gates_is_frozen(shared_data: Path, tmp_path: Path) -> None:
    bars = pd.read_parquet(shared_data / "binance_BTCUSDT_1h_2017-2026.parquet")
    o = research(tmp_path / "btc", bars, "BTC/USDT 1h Sharpe >= 1.0, max drawdown >= -30%", symbol="BTC/USDT",
                 max_iters=2, windows=2, trials=4)
    # windows fitted to the real bars (gaps make a time-cut holdout differ from a bar count)
    assert o["experiments"] == 2, o["detail"]
    assert not o["frozen_failing_gates"]
    if o["status"] == "GOAL_MET":
        assert o["frozen"] and all(r["verdict"] != "misses" for r in o["holdout"])
    else:
        assert o["approval"] is None


def test_a_goal_market_without_data_is_refused_in_one_line(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    assert run([sys.executable, "-m", "auraquant", "init", str(ws), "--no-demo-data", "--json"],
               tmp_path).returncode == 0
    assert run([sys.executable, "-m", "auraquant", "data", "synth", "--bars", "500", "--json", "-w", str(ws)],
               tmp_path).returncode == 0  # SYNTH/USDT 1h exists: another market is never a stand-in
    for goal, want in (("ETH/USDT 1h Sharpe >= 1", "ETH/USDT 1h"), ("SYNTH/USDT 4h Sharpe >= 1", "SYNTH/USDT 4h")):
        out = run([*research_cli(), "research", "--goal", goal, "--max-iters", "1", "-w", str(ws)], tmp_path)
        assert out.returncode == 1
        lines = out.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"error: no data for {want}; import or fetch it"), out.stderr
        assert "Traceback" not in out.stderr + out.stdout
    js = run([*research_cli(), "research", "--goal", "ETH/USDT 1h Sharpe >= 1", "--json", "-w", str(ws)], tmp_path)
    assert js.returncode == 1 and '"kind": "NoData"' in js.stdout
    assert not list((ws / ".aura" / "sessions").glob("*.jsonl"))  # refused before any session started


def test_research_that_runs_no_experiment_exits_nonzero_and_falsifies_nothing(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    assert run([sys.executable, "-m", "auraquant", "init", str(ws), "--no-demo-data", "--json"],
               tmp_path).returncode == 0
    tiny = run([sys.executable, "-m", "auraquant", "data", "synth", "--symbol", "TINY/USDT", "--bars", "150",
                "--json", "-w", str(ws)], tmp_path)
    assert tiny.returncode == 0, tiny.stderr
    out = run([*research_cli(), "research", "--goal", "TINY/USDT 1h Sharpe >= 1", "--max-iters", "3", "--json",
               "-w", str(ws)], tmp_path)
    assert out.returncode == 1, out.stdout[-2000:]
    res = json.loads(out.stdout)
    assert res["experiments"] == 0 and res["status"] == "STRUCTURAL_GAP"
    assert "bars before the holdout" in res["detail"]
    text = run([*research_cli(), "research", "--goal", "TINY/USDT 1h Sharpe >= 1", "--max-iters", "3",
                "-w", str(ws)], tmp_path)
    assert text.returncode == 1 and "no experiment ran" in text.stderr
    notes = Workspace.open(ws).store.memory_list(NS_RESEARCH)
    assert not any(v.get("falsified_families") for v in notes.values() if isinstance(v, dict))
